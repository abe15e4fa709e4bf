"""The one record that crosses from perception to association (see design.md).

Per time step a backend hands the association core an ``ObservationBatch``: all detections
of all cameras at that step, in columnar numpy form so the core can vectorise. ``Observation``
is the row view of the same data, used at the edges (tests, probes, message sinks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Observation:
    scene: str
    camera_id: int
    frame_id: int
    timestamp: float
    local_track_id: int
    bbox: np.ndarray  # x, y, w, h in source pixels
    score: float
    embedding: np.ndarray  # float32, L2-normalised
    world_xy: np.ndarray  # ground-plane metres; NaN when the foot point is above the horizon
    world_std: float = float("nan")  # metres; NaN = unknown (the association core assumes its default)
    keypoints: np.ndarray | None = None


@dataclass
class ObservationBatch:
    """All observations of one time step, column by column (row i of each array is one detection)."""

    scene: str
    frame_id: int
    timestamp: float
    camera_id: np.ndarray  # int64 (N,)
    local_track_id: np.ndarray  # int64 (N,); -1 before single-camera tracking
    bbox: np.ndarray  # float64 (N, 4) x y w h
    score: np.ndarray  # float64 (N,)
    embedding: np.ndarray  # float32 (N, D)
    world_xy: np.ndarray  # float64 (N, 2)
    cameras: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # cameras live at this step
    world_std: np.ndarray | None = None  # float64 (N,) metres, None = unknown

    def __len__(self) -> int:
        return int(self.camera_id.shape[0])

    @classmethod
    def empty(cls, scene: str, frame_id: int, timestamp: float, dim: int) -> ObservationBatch:
        return cls(
            scene=scene,
            frame_id=frame_id,
            timestamp=timestamp,
            camera_id=np.zeros(0, np.int64),
            local_track_id=np.zeros(0, np.int64),
            bbox=np.zeros((0, 4)),
            score=np.zeros(0),
            embedding=np.zeros((0, dim), np.float32),
            world_xy=np.zeros((0, 2)),
        )

    def rows(self) -> list[Observation]:
        return [
            Observation(
                scene=self.scene,
                camera_id=int(self.camera_id[i]),
                frame_id=self.frame_id,
                timestamp=self.timestamp,
                local_track_id=int(self.local_track_id[i]),
                bbox=self.bbox[i].copy(),
                score=float(self.score[i]),
                embedding=self.embedding[i].copy(),
                world_xy=self.world_xy[i].copy(),
                world_std=float("nan") if self.world_std is None else float(self.world_std[i]),
            )
            for i in range(len(self))
        ]

    @classmethod
    def from_rows(
        cls, observations: Sequence[Observation], *, scene: str, frame_id: int, timestamp: float, dim: int
    ) -> ObservationBatch:
        if not observations:
            return cls.empty(scene, frame_id, timestamp, dim)
        return cls(
            scene=scene,
            frame_id=frame_id,
            timestamp=timestamp,
            camera_id=np.array([o.camera_id for o in observations], np.int64),
            local_track_id=np.array([o.local_track_id for o in observations], np.int64),
            bbox=np.array([o.bbox for o in observations], np.float64).reshape(-1, 4),
            score=np.array([o.score for o in observations], np.float64),
            embedding=np.array([o.embedding for o in observations], np.float32).reshape(len(observations), -1),
            world_xy=np.array([o.world_xy for o in observations], np.float64).reshape(-1, 2),
            world_std=np.array([o.world_std for o in observations], np.float64),
        )


def concat_batches(
    parts: Iterable[ObservationBatch], *, scene: str, frame_id: int, timestamp: float, dim: int
) -> ObservationBatch:
    parts = [p for p in parts if len(p)]
    if not parts:
        return ObservationBatch.empty(scene, frame_id, timestamp, dim)
    return ObservationBatch(
        scene=scene,
        frame_id=frame_id,
        timestamp=timestamp,
        camera_id=np.concatenate([p.camera_id for p in parts]),
        local_track_id=np.concatenate([p.local_track_id for p in parts]),
        bbox=np.concatenate([p.bbox for p in parts]),
        score=np.concatenate([p.score for p in parts]),
        embedding=np.concatenate([p.embedding for p in parts]),
        world_xy=np.concatenate([p.world_xy for p in parts]),
        world_std=np.concatenate([p.world_std if p.world_std is not None else np.full(len(p), np.nan) for p in parts]),
    )
