"""Assignment and distance helpers shared by the trackers."""

from __future__ import annotations

import lap
import numpy as np

INF_COST = 1e6


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-cost matching keeping only pairs with cost <= thresh.

    Returns (matches (k, 2) of row/col indices, unmatched rows, unmatched cols). Deterministic.
    """
    n, m = cost.shape
    feasible = cost <= thresh
    if n == 0 or m == 0 or not feasible.any():
        return np.zeros((0, 2), np.int64), np.arange(n), np.arange(m)
    c = np.where(feasible, cost, INF_COST)
    _, x, _ = lap.lapjv(c, extend_cost=True, cost_limit=thresh)
    rows = np.flatnonzero(x >= 0)
    cols = x[rows]
    ok = feasible[rows, cols]
    rows, cols = rows[ok], cols[ok]
    matched_r = np.zeros(n, bool)
    matched_r[rows] = True
    matched_c = np.zeros(m, bool)
    matched_c[cols] = True
    return np.stack([rows, cols], axis=1).astype(np.int64), np.flatnonzero(~matched_r), np.flatnonzero(~matched_c)


def pairwise_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances between 2-D points (np.hypot is five times slower)."""
    return np.sqrt((a[:, :1] - b[None, :, 0]) ** 2 + (a[:, 1:2] - b[None, :, 1]) ** 2)


def cosine_half_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(1 - cos) / 2 in [0, 1] between rows of unit vectors (the reference method's appearance scale)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    return np.clip((1.0 - a.astype(np.float32) @ b.astype(np.float32).T) * 0.5, 0.0, 1.0).astype(np.float64)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
