"""The one record that crosses from perception to association (see design.md).

Per time step a backend hands the association core an ``ObservationBatch``: every tracked
person box of every camera at that step, in columnar numpy form so the core can vectorise
(row i of each array is one observation).

Two clocks meet here. The association core counts processing *steps* (``step``, at the
processing rate); each row keeps the *source* frame number and stream time of its own camera
(``frame_id``, ``timestamp``), which is what result rows carry. At full rate on one video the
two agree; at ``--fps 10`` on a 30 fps video step 1 holds source frame 3; cameras of different
rates give rows of one step different frame numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mcpt.pose.keypoints import unknown


@dataclass
class ObservationBatch:
    """All observations of one time step, column by column."""

    scene: str
    step: int  # processing step, 0, 1, 2, ... (the association core's clock)
    time_s: float  # the step's stream time, seconds
    camera_id: np.ndarray  # int64 (N,)
    frame_id: np.ndarray  # int64 (N,) source frame number of the row's camera (0-based, as decoded)
    timestamp: np.ndarray  # float64 (N,) source stream time of that frame, seconds
    local_track_id: np.ndarray  # int64 (N,); -1 before single-camera tracking
    bbox: np.ndarray  # float64 (N, 4) x y w h in source pixels
    score: np.ndarray  # float64 (N,)
    embedding: np.ndarray  # float32 (N, D), L2-normalised
    world_xy: np.ndarray  # float64 (N, 2) floor metres; NaN where the foot point is above the horizon
    cameras: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # cameras live at this step
    world_std: np.ndarray | None = None  # float64 (N,) metres, None = unknown (the core assumes its default)
    # float32 (N, 17, 3) COCO-17 x, y (source pixels), confidence; None = no pose model ran this step,
    # NaN confidences = none estimated for that row (mcpt.pose.keypoints)
    keypoints: np.ndarray | None = None
    # camera id -> (source frame number, stream time) of the frame it contributed at this step, cameras that
    # saw nobody included (what a perception node publishes per camera); None where the backend does not say
    camera_frames: dict[int, tuple[int, float]] | None = None

    def __len__(self) -> int:
        return int(self.camera_id.shape[0])

    @classmethod
    def empty(cls, scene: str, step: int, time_s: float, dim: int) -> ObservationBatch:
        return cls(
            scene=scene,
            step=step,
            time_s=time_s,
            camera_id=np.zeros(0, np.int64),
            frame_id=np.zeros(0, np.int64),
            timestamp=np.zeros(0),
            local_track_id=np.zeros(0, np.int64),
            bbox=np.zeros((0, 4)),
            score=np.zeros(0),
            embedding=np.zeros((0, dim), np.float32),
            world_xy=np.zeros((0, 2)),
        )


def concat_batches(
    parts: Iterable[ObservationBatch], *, scene: str, step: int, time_s: float, dim: int
) -> ObservationBatch:
    """One step's batch from per-camera parts (empty parts are skipped)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return ObservationBatch.empty(scene, step, time_s, dim)

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return ObservationBatch(
        scene=scene,
        step=step,
        time_s=time_s,
        camera_id=cat("camera_id"),
        frame_id=cat("frame_id"),
        timestamp=cat("timestamp"),
        local_track_id=cat("local_track_id"),
        bbox=cat("bbox"),
        score=cat("score"),
        embedding=cat("embedding"),
        world_xy=cat("world_xy"),
        world_std=np.concatenate([p.world_std if p.world_std is not None else np.full(len(p), np.nan) for p in parts]),
        keypoints=_cat_keypoints(parts),
    )


def _cat_keypoints(parts: list[ObservationBatch]) -> np.ndarray | None:
    if all(p.keypoints is None for p in parts):
        return None
    return np.concatenate([p.keypoints if p.keypoints is not None else unknown(len(p)) for p in parts])
