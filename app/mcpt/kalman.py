"""The Kalman update step shared by the box filter (single-camera tracks) and the point filter (clusters)."""

from __future__ import annotations

import numpy as np


def kalman_update(mean: np.ndarray, cov: np.ndarray, z: np.ndarray, r: np.ndarray, h_dim: int):
    """Batched update for states whose first ``h_dim`` entries are measured directly (noise ``r``)."""
    s = cov[:, :h_dim, :h_dim] + r
    pht = cov[:, :, :h_dim]
    gain = np.linalg.solve(s, np.swapaxes(pht, 1, 2))  # (n, h, d) = S^-1 H P
    gain = np.swapaxes(gain, 1, 2)  # (n, d, h)
    innov = z - mean[:, :h_dim]
    mean = mean + np.einsum("ndh,nh->nd", gain, innov)
    cov = cov - np.einsum("ndh,nhe->nde", gain, cov[:, :h_dim, :])
    return mean, cov
