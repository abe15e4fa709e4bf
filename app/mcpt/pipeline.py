"""The CPU pipeline end to end: cameras (files or RTSP) -> perception -> association -> results and pictures."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.runner import RunSummary, run_association
from mcpt.scene.calibration import Calibration, load_calibration
from mcpt.scene.layout import SceneDir
from mcpt.sources.camera import CameraSource
from mcpt.table import format_table

log = logging.getLogger(__name__)


@dataclass
class CameraInput:
    camera_id: int
    uri: str
    calibration: Path


@dataclass
class PipelineResult:
    summary: RunSummary
    sources: dict[int, dict] = field(default_factory=dict)
    disabled: dict[int, str] = field(default_factory=dict)
    ort_s: float = 0.0

    @property
    def overhead(self) -> float:
        """Total wall time over the time spent inside ONNX Runtime."""
        return self.summary.wall_s / self.ort_s if self.ort_s > 0 else float("nan")


def cameras_from_scene(scene: SceneDir) -> list[CameraInput]:
    cams = []
    for c in scene.cameras:
        if c.video is None:
            log.error("%s/%s: no video.mp4; camera skipped", scene.name, c.name)
            continue
        cams.append(CameraInput(c.camera_id, str(c.video), c.calibration_path))
    if not cams:
        raise InputError(scene.path, "no camera_XXXX folder holds a video (video.mp4)")
    return cams


def cameras_from_yaml(path: str | Path) -> tuple[str, list[CameraInput], float | None]:
    """``cameras.yaml``: ``scene:`` (name), ``fps:`` (processing rate) and ``cameras:`` [{id, uri, calibration}]."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "cameras file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({getattr(e, 'problem', e)})") from None
    items = data.get("cameras")
    if not isinstance(items, list) or not items:
        raise InputError(path, "expected a list of cameras, each with id, uri and calibration", field="cameras")
    cams = []
    for k, item in enumerate(items):
        for key in ("id", "uri", "calibration"):
            if not isinstance(item, dict) or key not in item:
                raise InputError(path, "missing", field=f"cameras[{k}].{key}")
        calib = Path(item["calibration"])
        if not calib.is_absolute():
            calib = path.parent / calib
        try:
            cid = int(item["id"])
        except (TypeError, ValueError):
            raise InputError(
                path, f"expected an integer camera id, got {item['id']!r}", field=f"cameras[{k}].id"
            ) from None
        cams.append(CameraInput(cid, str(item["uri"]), calib))
    ids = [c.camera_id for c in cams]
    if len(set(ids)) != len(ids):
        raise InputError(path, "two cameras share an id", field="cameras")
    fps = data.get("fps")
    return str(data.get("scene", path.stem)), cams, float(fps) if fps else None


def load_models(cfg: Config, detector: str | Path | None, reid: str | Path | None, threads: int | None):
    from mcpt.models.detector import PersonDetector
    from mcpt.models.manifest import load_manifest
    from mcpt.models.reid import ReIDModel

    manifest = load_manifest()
    d, r = manifest.detector, manifest.reid
    det = PersonDetector(
        detector or d.onnx,
        d.width,
        d.height,
        cfg.detector.conf_thresh,
        cfg.detector.nms_iou,
        d.person_classes or None,
        threads,
    )
    emb = ReIDModel(reid or r.onnx, r.width, r.height, threads=threads)
    return det, emb


def run_cpu(
    scene_name: str,
    cameras: list[CameraInput],
    cfg: Config,
    out: str | Path | None,
    video: str | Path | None = None,
    bev: str | Path | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    detector: str | Path | None = None,
    reid: str | Path | None = None,
    threads: int | None = None,
) -> PipelineResult:
    from mcpt.association.core import Associator
    from mcpt.backends.cpu import CpuPerception, CpuSource
    from mcpt.sources.lockstep import LockstepReader

    cfg = cfg.for_scene(scene_name)
    det, emb = load_models(cfg, detector, reid, threads)
    calibs: dict[int, Calibration] = {}
    disabled: dict[int, str] = {}
    for cam in cameras:
        try:
            calibs[cam.camera_id] = load_calibration(cam.calibration, cam.camera_id)
        except InputError as e:
            disabled[cam.camera_id] = str(e)
            log.error("camera %s skipped: %s", cam.camera_id, e)
    usable = [c for c in cameras if c.camera_id in calibs]
    if not usable:
        raise InputError(None, f"{scene_name}: no camera with a usable calibration")
    t0 = time.monotonic()
    sources = [CameraSource(c.camera_id, c.uri, t0=t0) for c in usable]
    reader = LockstepReader(sources, fps=fps, max_steps=max_frames)
    reader.start()
    for s in sources:
        if s.error and s.ended:
            disabled[s.camera_id] = s.error
    if all(s.ended and s.stats.frames == 0 for s in sources):
        reader.stop()
        raise InputError(None, f"{scene_name}: no camera delivered a frame ({'; '.join(disabled.values())})")
    perception = CpuPerception(scene_name, calibs, cfg, det, emb)
    source = CpuSource(reader, perception)
    assoc = Associator(cfg.association, fps=reader.fps)
    tiled = bird = None
    if video:
        from mcpt.outputs.tiled import TiledVideoWriter

        tiled = TiledVideoWriter(video, [c.camera_id for c in usable], reader.fps)
    if bev:
        from mcpt.outputs.bev import BirdsEyeView

        sizes = {s.camera_id: s.size for s in sources if s.size}
        bird = BirdsEyeView(bev, calibs, sizes, fps=reader.fps)

    def draw(batch, step) -> None:
        with perception.timer.stage("draw"):
            if tiled is not None:
                tiled.write(source.last_frames, batch.camera_id, batch.bbox, step.global_id, batch.frame_id)
            if bird is not None:
                bird.update(step.global_id, step.position, batch.frame_id)

    def postfix() -> dict:
        t = perception.timer
        n = max(source.steps, 1)
        return {
            "det_fps": f"{n / max(t.total('detect'), 1e-9):.1f}",
            "reid_ms": f"{t.total('reid') * 1e3 / n:.0f}",
            "gaps": sum(len(s.stats.gaps) for s in sources),
        }

    try:
        total = max_frames
        if total is None and not reader.live:
            counts = [s.frame_count for s in sources if s.frame_count]
            total = max(counts) if counts else None
        summary = run_association(
            source,
            assoc,
            out,
            scene_name,
            total=total,
            progress=progress,
            timer=perception.timer,
            on_step=draw if (tiled or bird) else None,
            postfix=postfix,
        )
    finally:
        reader.stop()
        if tiled is not None:
            tiled.close()
        if bird is not None:
            bird.close()
    for cid, cam in perception.cameras.items():
        if cam.disabled:
            disabled[cid] = cam.disabled
    stats = {}
    for s in sources:
        stats[s.camera_id] = {
            "frames": s.stats.frames,
            "decode_ms": 1e3 * s.stats.decode_s / max(s.stats.frames, 1),
            "gaps": len(s.stats.gaps),
            "gap_s": float(sum(g.seconds for g in s.stats.gaps)),
            "reconnects": s.stats.reconnects,
            "dropped": s.stats.dropped,
            "error": s.error or "",
        }
        summary.timer.add("decode (threads)", s.stats.decode_s, s.stats.frames)
    return PipelineResult(summary, stats, disabled, perception.timer.total("ort"))


def pipeline_report(res: PipelineResult) -> str:
    s = res.summary
    t = s.timer
    n = max(s.frames, 1)
    stage_rows = []
    for name in ("wait frames", "detect", "reid", "track", "associate", "write", "draw", "decode (threads)"):
        if name in t.samples:
            total = t.total(name)
            per = n if name != "decode (threads)" else max(t.items[name], 1)
            stage_rows.append([name, 1e3 * total / per, total, per / total if total > 0 else float("inf")])
    stages = format_table(["stage", "ms per step", "total s", "steps/s"], stage_rows, digits=2)
    cams = format_table(
        ["camera", "frames", "decode ms", "gaps", "gap s", "reconnects", "dropped", "note"],
        [
            [
                c,
                v["frames"],
                v["decode_ms"],
                v["gaps"],
                v["gap_s"],
                v["reconnects"],
                v["dropped"],
                res.disabled.get(c, v["error"])[:60],
            ]
            for c, v in sorted(res.sources.items())
        ],
        digits=1,
    )
    head = (
        f"{s.scene}: {s.frames} steps in {s.wall_s:.1f} s ({s.fps():.2f} steps/s), {s.rows} rows, "
        f"{s.identities} identities; ONNX Runtime {res.ort_s:.1f} s, wall / inference = {res.overhead:.2f}"
    )
    return "\n".join([head, "", stages, "", cams])


def default_threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def _split_worker(args) -> tuple[str, str, dict]:
    scene_path, out_dir, cfg_dict, video_dir, progress, detector, reid, threads, max_frames = args
    from mcpt.config import from_dict
    from mcpt.scene.layout import discover_scene

    cfg = from_dict(Config, cfg_dict, "config")
    scene = discover_scene(scene_path)
    target = Path(out_dir) / f"{scene.name}.txt"
    video = Path(video_dir) / f"{scene.name}.mp4" if video_dir else None
    res = run_cpu(
        scene.name,
        cameras_from_scene(scene),
        cfg,
        target,
        video=video,
        progress=progress,
        detector=detector,
        reid=reid,
        threads=threads,
        max_frames=max_frames,
    )
    return scene.name, pipeline_report(res), {"rows": res.summary.rows, "ids": res.summary.identities}


def run_split(
    scenes: list[SceneDir],
    cfg: Config,
    out_dir: str | Path,
    jobs: int = 1,
    video_dir=None,
    progress: bool = True,
    detector=None,
    reid=None,
    max_frames: int | None = None,
) -> list[str]:
    """Every scene of a split, ``jobs`` scenes at a time in separate processes; returns their reports."""
    import multiprocessing as mp

    from mcpt.config import to_dict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = default_threads(jobs)
    work = [
        (
            str(s.path),
            str(out_dir),
            to_dict(cfg),
            video_dir,
            progress and jobs == 1,
            detector,
            reid,
            threads,
            max_frames,
        )
        for s in scenes
    ]
    if jobs <= 1:
        return [_split_worker(w)[1] for w in work]
    with mp.get_context("spawn").Pool(jobs) as pool:
        return [r[1] for r in pool.imap(_split_worker, work)]
