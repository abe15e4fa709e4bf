"""Replay backend: cached perception (``camera_*/perception.npz``) instead of running models.

Per camera the file holds, for every detection, ``frame_id`` (int32), ``bbox`` (x y w h in
source pixels), ``score`` and an L2-normalised ``embedding``; optionally ``num_frames``,
``fps``, ``image_size`` and ``gt_id`` (simulated scenes). Detections go through the
single-camera tracker, foot points through the camera's homography, and come out as one
ObservationBatch per time step, exactly as the live backends produce them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.scene.layout import CameraDir, SceneDir
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

    def __post_init__(self) -> None:
        order = np.argsort(self.frame_id, kind="stable")
        for name in ("frame_id", "bbox", "score", "embedding"):
            setattr(self, name, getattr(self, name)[order])
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
    )


class ReplaySource:
    """All cameras of a scene in lockstep, one ObservationBatch per frame."""

    def __init__(self, scene: SceneDir, cfg: Config) -> None:
        self.scene = scene
        self.cfg = cfg
        self.cameras: list[tuple[CameraDir, CameraPerception, CameraTracking]] = []
        fps_seen = set()
        for cam in scene.cameras:
            perception = load_perception(cam.perception_path, cam.camera_id)
            size = perception.image_size or (1920, 1080)
            calib = cam.calibration(image_size=size)
            self.cameras.append((cam, perception, CameraTracking(cam.camera_id, calib, cfg.association, size)))
            if perception.fps:
                fps_seen.add(perception.fps)
        self.fps = min(fps_seen) if fps_seen else 30.0
        if len(fps_seen) > 1:
            log.warning(
                "%s: cameras report different frame rates %s; replaying by frame index at %.1f fps",
                scene.name,
                sorted(fps_seen),
                self.fps,
            )
        counts = {cam.camera_id: p.num_frames for cam, p, _ in self.cameras}
        self.num_frames = max(counts.values()) if counts else 0
        short = {c: n for c, n in counts.items() if n < self.num_frames}
        if short:
            log.warning(
                "%s: cameras end early (frames: %s of %d); each camera stops at its own end",
                scene.name,
                ", ".join(f"{c}: {n}" for c, n in sorted(short.items())),
                self.num_frames,
            )
        dims = {p.embedding.shape[1] for _, p, _ in self.cameras if len(p.embedding)}
        if len(dims) > 1:
            raise InputError(
                scene.path, f"cameras have embeddings of different sizes {sorted(dims)}", field="embedding"
            )
        self.dim = dims.pop() if dims else 1

    def __iter__(self) -> Iterator[ObservationBatch]:
        name = self.scene.name
        for t in range(self.num_frames):
            ts = t / self.fps
            parts = []
            for _, p, tracking in self.cameras:
                if t < p.num_frames:
                    r = p.rows(t)
                    parts.append(tracking(name, t, t, ts, p.bbox[r], p.score[r], p.embedding[r])[0])
            out = concat_batches(parts, scene=name, step=t, time_s=ts, dim=self.dim)
            out.cameras = np.array([c.camera_id for c, p, _ in self.cameras if t < p.num_frames], np.int64)
            yield out
