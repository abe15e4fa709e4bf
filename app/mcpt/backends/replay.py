"""Replay backend: cached perception (``camera_*/perception.npz``) instead of running models.

Per camera the file holds, for every detection, ``frame_id`` (int32), ``bbox`` (x y w h in
source pixels), ``score`` and an L2-normalised ``embedding``; optionally ``num_frames``,
``fps``, ``image_size`` and ``gt_id`` (simulated scenes). Detections go through the
single-camera tracker, foot points through the camera's homography, and come out as one
ObservationBatch per time step, exactly as the live backends produce them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.scene.cameras import CameraFailures
from mcpt.scene.layout import CameraDir, SceneDir
from mcpt.sources.align import half_step, nearest_frame
from mcpt.timebase import DEFAULT_FPS
from mcpt.tracking.stage import CameraTracking

log = logging.getLogger(__name__)
REQUIRED = ("frame_id", "bbox", "score", "embedding")


@dataclass
class CameraPerception:
    camera_id: int
    frame_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray
    embedding: np.ndarray
    num_frames: int
    fps: float | None
    image_size: tuple[int, int] | None
    gt_id: np.ndarray | None
    detector: str | None = None  # the model that produced the detections (mcpt perceive), None: simulated
    reid: str | None = None  # the model that produced the embeddings (mcpt perceive), None: simulated
    keypoints: np.ndarray | None = None  # (n, 17, 3) COCO-17 x y confidence where a pose model ran

    def __post_init__(self) -> None:
        order = np.argsort(self.frame_id, kind="stable")
        for name in ("frame_id", "bbox", "score", "embedding"):
            setattr(self, name, getattr(self, name)[order])
        if self.keypoints is not None:
            self.keypoints = self.keypoints[order]
        if self.gt_id is not None:
            self.gt_id = self.gt_id[order]
        self._starts = np.searchsorted(self.frame_id, np.arange(self.num_frames + 1))

    def rows(self, frame: int) -> slice:
        if frame >= self.num_frames:
            return slice(0, 0)
        return slice(int(self._starts[frame]), int(self._starts[frame + 1]))


def load_perception(path: str | Path, camera_id: int) -> CameraPerception:
    """Read and check one camera's perception.npz; errors name the camera and the array."""
    path = Path(path)
    where = f"{path} (camera {camera_id})"
    if not path.is_file():
        raise InputError(where, "perception.npz not found; expected cached detections (see `mcpt simulate`)")
    try:
        z = np.load(path)
        data = {k: z[k] for k in z.files}
    except Exception as e:  # zip/pickle/format errors all mean the same to the user
        raise InputError(where, f"cannot read the file ({type(e).__name__}: {e})") from None
    for k in REQUIRED:
        if k not in data:
            raise InputError(where, f"missing array; expected {', '.join(REQUIRED)}", field=k)
    n = len(data["frame_id"])
    shapes = {"frame_id": (n,), "bbox": (n, 4), "score": (n,)}
    for k, shape in shapes.items():
        if data[k].shape != shape:
            raise InputError(where, f"expected shape {shape} to match {n} detections, got {data[k].shape}", field=k)
    emb = data["embedding"]
    if emb.ndim != 2 or emb.shape[0] != n:
        raise InputError(where, f"expected shape ({n}, D) to match {n} detections, got {emb.shape}", field="embedding")
    if not np.all(np.isfinite(emb)):
        bad = int(np.argmax(~np.all(np.isfinite(emb), axis=1)))
        raise InputError(where, f"NaN or infinite values (first at detection {bad})", field="embedding")
    if not np.all(np.isfinite(data["bbox"])) or not np.all(np.isfinite(data["score"])):
        raise InputError(where, "NaN or infinite values", field="bbox/score")
    keypoints = data.get("keypoints")
    if keypoints is not None:
        if keypoints.shape != (n, 17, 3):
            raise InputError(
                where, f"expected shape ({n}, 17, 3) to match {n} detections, got {keypoints.shape}", field="keypoints"
            )
        if np.isinf(keypoints).any():
            raise InputError(where, "infinite values (NaN marks a box without a pose)", field="keypoints")
        keypoints = keypoints.astype(np.float32)
    frames = data["frame_id"].astype(np.int64)
    if n and frames.min() < 0:
        raise InputError(where, "negative frame ids", field="frame_id")
    num_frames = int(data["num_frames"]) if "num_frames" in data else (int(frames.max()) + 1 if n else 0)
    if n and frames.max() >= num_frames:
        raise InputError(
            where, f"frame ids reach {int(frames.max())} but num_frames is {num_frames}", field="num_frames"
        )
    norms = np.linalg.norm(emb, axis=1)
    if n and np.any(np.abs(norms - 1.0) > 1e-3):
        log.info("camera %s: embeddings were not unit length; normalising", camera_id)
        emb = emb / np.maximum(norms[:, None], 1e-12)
    return CameraPerception(
        camera_id=camera_id,
        frame_id=frames,
        bbox=data["bbox"].astype(np.float64),
        score=data["score"].astype(np.float64),
        embedding=emb.astype(np.float32),
        num_frames=num_frames,
        fps=float(data["fps"]) if "fps" in data else None,
        image_size=tuple(int(v) for v in data["image_size"]) if "image_size" in data else None,
        gt_id=data["gt_id"].astype(np.int64) if "gt_id" in data else None,
        detector=str(data["detector"]) if "detector" in data else None,
        reid=str(data["reid"]) if "reid" in data else None,
        keypoints=keypoints,
    )


@dataclass
class _CachedFrame:
    index: int
    timestamp: float


class _Cursor:
    """One camera's cached frames in stream order, stepped with the lockstep reader's rule."""

    def __init__(self, perception: CameraPerception, fps: float) -> None:
        self.p, self.fps, self.next_index = perception, fps, 0

    def advance(self) -> _CachedFrame | None:
        if self.next_index >= self.p.num_frames:
            return None
        f = _CachedFrame(self.next_index, self.next_index / self.fps)
        self.next_index += 1
        return f


def models_fitted(cfg: Config, detectors: list[str], reids: list[str], scene: str) -> Config:
    """``cfg`` with the score thresholds of the detector and the appearance scale of the ReID model that made
    the cached perception (the reference's for the simulator's perception and for ground-truth boxes)."""
    from mcpt.config import REFERENCE_OPERATING_POINTS
    from mcpt.models.manifest import load_manifest, reid_appearance_scale

    op, scale = REFERENCE_OPERATING_POINTS, 1.0
    if (len(detectors) == 1 and detectors[0] != "ground truth") or len(reids) == 1:
        manifest = load_manifest()
        spec = manifest.models.get(detectors[0]) if len(detectors) == 1 else None
        if spec is not None and spec.operating_points:
            op = spec.operating_points
        if len(reids) == 1:
            scale, origin = reid_appearance_scale(manifest, reids[0])
            if scale != 1.0:
                log.info("%s: appearance thresholds x%.2f (%s)", scene, scale, origin)
    if len(reids) > 1:
        log.warning("%s: cameras were embedded by different ReID models %s", scene, reids)
    return cfg.with_operating_points(op).with_appearance_scale(scale)


class ReplaySource:
    """All cameras of a scene in lockstep, one ObservationBatch per processing step.

    Steps are at ``fps`` (default: the slowest camera's rate); each camera contributes its cached
    frame nearest the step's time, exactly as the CPU pipeline's lockstep reader picks decoded
    frames, so ``--fps 10`` on a 30 fps cache processes source frames 0, 3, 6 ...
    """

    def __init__(
        self,
        scene: SceneDir,
        cfg: Config,
        fps: float | None = None,
        perception: str | None = None,
        strict: bool = False,
        camera_ids: list[int] | None = None,
    ) -> None:
        """``camera_ids``: only these cameras of the scene (a perception node's share of a site)."""
        self.scene = scene
        self.failures = CameraFailures()
        loaded, calibrations = [], {}
        cameras = scene.cameras
        if camera_ids is not None:
            unknown = sorted(set(camera_ids) - {c.camera_id for c in cameras})
            if unknown:
                raise InputError(scene.path, f"no cameras {unknown} here (it has {scene.camera_ids})", field="--camera")
            cameras = [c for c in cameras if c.camera_id in camera_ids]
        for cam in cameras:
            # the failure policy of every command: a camera that cannot start is left out and reported
            try:
                p = load_perception(cam.perception_file(perception), cam.camera_id)
                calibrations[cam.camera_id] = cam.calibration(image_size=p.image_size or (1920, 1080))
            except InputError as e:
                self.failures.fail(cam.camera_id, str(e))
                continue
            loaded.append((cam, p))
        self.failures.check(len(cameras), strict, scene.name)
        self.detectors = sorted({p.detector for _, p in loaded if p.detector})
        self.reids = sorted({p.reid for _, p in loaded if p.reid})
        self.cfg = cfg = models_fitted(cfg, self.detectors, self.reids, scene.name)
        rates = {cam.camera_id: p.fps or DEFAULT_FPS for cam, p in loaded}
        if any(p.fps is None for _, p in loaded):
            log.info("%s: cached perception without a frame rate is taken as %g fps", scene.name, DEFAULT_FPS)
        self.fps = fps or (min(rates.values()) if rates else DEFAULT_FPS)
        if len(set(rates.values())) > 1:
            log.info("%s: cameras run at %s fps; stepping at %g fps by stream time", scene.name, rates, self.fps)
        self.cameras: list[tuple[CameraDir, CameraPerception, CameraTracking]] = []
        for cam, p in loaded:
            size = p.image_size or (1920, 1080)
            tracking = CameraTracking(cam.camera_id, calibrations[cam.camera_id], cfg.association, size, self.fps)
            self.cameras.append((cam, p, tracking))
        ends = {cam.camera_id: p.num_frames / rates[cam.camera_id] for cam, p, _ in self.cameras}
        longest = max(ends.values()) if ends else 0.0
        self.num_steps = math.ceil(longest * self.fps - 1e-9)
        short = {c: e for c, e in ends.items() if e < longest - 1e-9}
        if short:
            log.warning(
                "%s: cameras end early (%s of %.1f s); each camera stops at its own end",
                scene.name,
                ", ".join(f"{c}: {e:.1f} s" for c, e in sorted(short.items())),
                longest,
            )
        self.rates = rates
        dims = {p.embedding.shape[1] for _, p, _ in self.cameras if len(p.embedding)}
        if len(dims) > 1:
            raise InputError(
                scene.path, f"cameras have embeddings of different sizes {sorted(dims)}", field="embedding"
            )
        self.dim = dims.pop() if dims else 1

    def camera_rows(self) -> list[list]:
        """(camera, status, cached frames, note) for every camera of the scene, the failed ones included."""
        rows = [[cam.camera_id, "ok", p.num_frames, ""] for cam, p, _ in self.cameras]
        rows += [[c, "failed", 0, why] for c, why in self.failures.reasons.items()]
        return sorted(rows)

    def __iter__(self) -> Iterator[ObservationBatch]:
        name = self.scene.name
        half = half_step(self.fps)
        cursors = [_Cursor(p, self.rates[cam.camera_id]) for cam, p, _ in self.cameras]
        pending = [c.advance() for c in cursors]
        k = 0
        while any(f is not None for f in pending):
            t = k / self.fps
            chosen, live = [], []
            for i, ((cam, _, _), cursor) in enumerate(zip(self.cameras, cursors, strict=True)):
                if pending[i] is not None:
                    live.append(cam.camera_id)
                f, pending[i] = nearest_frame(pending[i], cursor.advance, t, half, 1.0 / cursor.fps)
                chosen.append(f)
            if all(f is None for f in chosen) and all(f is None for f in pending):
                return  # every stream ended before this step
            parts = []
            for (_, p, tracking), f in zip(self.cameras, chosen, strict=True):
                if f is not None:
                    r = p.rows(f.index)
                    kp = None if p.keypoints is None else p.keypoints[r]
                    parts.append(tracking(name, k, f.index, f.timestamp, p.bbox[r], p.score[r], p.embedding[r], kp)[0])
            out = concat_batches(parts, scene=name, step=k, time_s=t, dim=self.dim)
            out.cameras = np.array(live, np.int64)
            seen = zip(self.cameras, chosen, strict=True)
            out.camera_frames = {cam.camera_id: (f.index, f.timestamp) for (cam, _, _), f in seen if f is not None}
            yield out
            k += 1
