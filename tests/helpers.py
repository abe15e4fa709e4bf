"""Hand-made observation streams for association tests."""

from __future__ import annotations

import numpy as np

from mcpt.observation import ObservationBatch

DIM = 32


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def identity(seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=DIM)).astype(np.float32)


def look(proto: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    return unit(proto + rng.normal(scale=noise, size=proto.shape)).astype(np.float32)


def batch(
    frame: int, seen: list[tuple[int, int, tuple[float, float], np.ndarray]], fps: float = 10.0, score: float = 0.9
) -> ObservationBatch:
    """seen: (camera, local track id, floor xy, embedding) per observation."""
    n = len(seen)
    boxes = np.array([[100.0 + 60 * i, 100.0, 50.0, 150.0] for i in range(n)]).reshape(-1, 4)
    return ObservationBatch(
        scene="test",
        step=frame,
        time_s=frame / fps,
        frame_id=np.full(n, frame, np.int64),
        timestamp=np.full(n, frame / fps),
        camera_id=np.array([s[0] for s in seen], np.int64),
        local_track_id=np.array([s[1] for s in seen], np.int64),
        bbox=boxes,
        score=np.full(n, score),
        embedding=np.array([s[3] for s in seen], np.float32).reshape(n, DIM),
        world_xy=np.array([s[2] for s in seen], np.float64).reshape(n, 2),
        world_std=np.full(n, 0.1),
    )
