"""The CPU pipeline of one scene, as one loop: read step -> perception -> association -> write -> draw."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.health import LiveHealth
from mcpt.loop import AssociationLoop, Progress, RunSummary
from mcpt.outputs.pictures import Pictures
from mcpt.scene.cameras import CameraFailures, CameraInput, load_calibrations
from mcpt.stopping import StopRequest
from mcpt.timing import StageTimer

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    summary: RunSummary
    sources: dict[int, dict] = field(default_factory=dict)  # per camera: decoding figures
    failed: dict[int, str] = field(default_factory=dict)  # per failed camera: why
    ort_s: float = 0.0  # time inside ONNX Runtime (detector, ReID and pose)
    health: LiveHealth | None = None  # live runs: rate and clock-drift figures

    @property
    def wall_per_inference(self) -> float:
        """Total wall time over the time spent inside ONNX Runtime."""
        return self.summary.wall_s / self.ort_s if self.ort_s > 0 else float("nan")


def _node(url, scene_name: str, manifest, detector, reid, dim: int, sources, reader, t0: float, failures):
    """The publisher of a video/RTSP perception node. Stream times count from 0 for files; live cameras'
    from the reader's start, whose wall-clock time is the node's origin (nodes on several machines agree
    through their clocks: keep them NTP-synchronised). Cameras left out of the run are registered as failed
    and ended at once: nobody waits for them."""
    from mcpt.bus.node import NodePublisher

    known = manifest.detector if detector is None else manifest.detector_for(detector)
    det_name = known.name if known is not None else Path(detector).stem
    reid_name = manifest.reid.name if reid is None else Path(reid).stem
    origin = time.time() - (time.monotonic() - t0) if reader.live else 0.0
    meta = {"dim": dim, "detector": det_name, "reid": reid_name, "origin": origin}
    ok = [s for s in sources if s.camera_id not in failures.reasons]
    working = {s.camera_id: {"fps": s.fps or reader.fps, **meta} for s in ok}
    node = NodePublisher(url, scene_name, working, origin)
    for cam, why in failures.reasons.items():
        node.fail(cam, {"fps": reader.fps, **meta}, why)
    return node


def run_cpu(
    scene_name: str,
    cameras: list[CameraInput],
    cfg: Config,
    out: str | Path | None,
    video: str | Path | None = None,
    bev: str | Path | None = None,
    fps: float | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    detector: str | Path | None = None,
    reid: str | Path | None = None,
    threads: int | None = None,
    duration: float | None = None,
    strict: bool = False,
    pose: str | Path | None = None,
    publish=None,
    associate: bool = True,
) -> PipelineResult:
    """One scene through the CPU pipeline. ``pose``: a pose ONNX file in place of the manifest's (with
    ``cfg.pose.enabled``). ``publish``: a BusURL this perception node publishes every camera's observations
    to; ``associate``: False leaves association to `mcpt associate` (nothing written here)."""
    from mcpt.association.core import Associator
    from mcpt.backends.cpu import CpuPerception
    from mcpt.models.manifest import detector_operating_points, load_manifest, reid_appearance_scale
    from mcpt.models.runtime import load_models, load_pose
    from mcpt.sources.camera import CameraSource
    from mcpt.sources.lockstep import LockstepReader

    manifest = load_manifest()
    ops, origin = detector_operating_points(manifest, detector)
    scale, scale_origin = reid_appearance_scale(manifest, reid)
    cfg = cfg.for_scene(scene_name).with_operating_points(ops).with_appearance_scale(scale)
    log.info("score thresholds: %s; appearance scale: %s (unless set in the configuration)", origin, scale_origin)
    det, emb = load_models(cfg, detector, reid, threads)
    pose_model = load_pose(cfg, pose, threads)
    failures = CameraFailures()
    calibs = load_calibrations(cameras, failures)
    usable = [c for c in cameras if c.camera_id in calibs]
    failures.check(len(cameras), strict, scene_name)
    t0 = time.monotonic()
    sources = [CameraSource(c.camera_id, c.uri, t0=t0) for c in usable]
    reader = LockstepReader(sources, fps=fps, max_steps=max_steps)
    reader.start()
    for s in sources:
        if s.error and (s.ended or s.stats.frames == 0):
            failures.fail(s.camera_id, s.error)
            s.stop()  # a live camera unreachable at start stays out of this run (the policy is the same for all)
    try:
        failures.check(len(cameras), strict, scene_name)
    except InputError:
        reader.stop()
        raise
    timer = StageTimer()
    perception = CpuPerception(scene_name, calibs, cfg, det, emb, failures, timer, reader.fps, pose_model)
    node = None
    if publish is not None:
        node = _node(publish, scene_name, manifest, detector, reid, emb.dim or 1, sources, reader, t0, failures)
    pictures = Pictures(
        video, bev, [c.camera_id for c in usable], calibs, {s.camera_id: s.size for s in sources if s.size}, reader.fps
    )
    total = max_steps
    if total is None and not reader.live:
        lengths = [s.frame_count / (s.fps or reader.fps) for s in sources if s.frame_count]
        total = math.ceil(max(lengths) * reader.fps - 1e-9) if lengths else None
    bar = Progress(scene_name, total, progress)
    times = None
    if reader.live and out is not None:
        from mcpt.outputs.frame_times import FrameTimesWriter

        times = FrameTimesWriter(out)

    def figures() -> dict:
        n = max(loop.summary.steps, 1)
        return {
            "ids": loop.identities,
            "det_fps": f"{n / max(timer.total('detect'), 1e-9):.1f}",
            "reid_ms": f"{timer.total('reid') * 1e3 / n:.0f}",
            **({"pose_ms": f"{timer.total('pose') * 1e3 / n:.0f}"} if pose_model is not None else {}),
            "gaps": sum(len(s.stats.gaps) for s in sources),
        }

    health = LiveHealth(reader.fps, cfg.live.slow_warn_s, cfg.live.max_drift_s) if reader.live else None
    stop = StopRequest(duration)
    try:
        with stop, AssociationLoop(scene_name, Associator(cfg.association, fps=reader.fps), out, timer) as loop:
            steps = iter(reader)
            while not stop.requested:
                with timer.stage("wait frames"):
                    step = next(steps, None)
                if step is None:
                    break
                batch = perception(step)
                if node is not None:
                    with timer.stage("publish"):
                        node.step(batch)
                if not associate:
                    bar.update(figures)
                    continue
                result = loop.step(batch)
                if health is not None:
                    health.step(step.frames, sum(s.stats.dropped for s in sources))
                if times is not None:
                    with timer.stage("write"):
                        times.write_step(step.frames)
                if pictures:
                    with timer.stage("draw"):
                        pictures.draw(step, result)
                bar.update(figures)
    except BaseException:
        if times is not None:
            times.abort()
        raise
    finally:
        bar.close()
        reader.stop()
        pictures.close()
        if node is not None:
            node.close()
            log.info("%s", node.summary())
    if times is not None:
        times.close()
    sources_table = {
        s.camera_id: {
            "frames": s.stats.frames,
            "decode_ms": 1e3 * s.stats.decode_s / max(s.stats.frames, 1),
            "gaps": len(s.stats.gaps),
            "gap_s": float(sum(g.seconds for g in s.stats.gaps)),
            "reconnects": s.stats.reconnects,
            "dropped": s.stats.dropped,
            "error": s.error or "",
        }
        for s in sources
    }
    loop.summary.stopped = stop.reason
    return PipelineResult(loop.summary, sources_table, failures.reasons, perception.ort_s, health)
