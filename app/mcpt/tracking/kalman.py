"""Constant-velocity Kalman filter of image boxes (every track of one camera at once), BoT-SORT style."""

from __future__ import annotations

import numpy as np

from mcpt.kalman import kalman_update


class BoxKalman:
    """State x, y (box centre), w, h and their velocities; noise scales with box size (BoT-SORT style)."""

    std_position = 1.0 / 20
    std_velocity = 1.0 / 160
    ndim = 4

    def __init__(self) -> None:
        f = np.eye(8)
        f[:4, 4:] = np.eye(4)
        self.f = f

    def initiate(self, boxes_cxcywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(boxes_cxcywh, np.float64).reshape(-1, 4)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        wh = np.stack([z[:, 2], z[:, 3], z[:, 2], z[:, 3]], axis=1)
        std = np.concatenate([2 * self.std_position * wh, 10 * self.std_velocity * wh], axis=1)
        cov = np.zeros((len(z), 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(mean):
            return mean, cov
        wh = np.stack([mean[:, 2], mean[:, 3], mean[:, 2], mean[:, 3]], axis=1)
        q = np.concatenate([self.std_position * wh, self.std_velocity * wh], axis=1) ** 2
        mean = mean @ self.f.T
        cov = self.f @ cov @ self.f.T
        idx = np.arange(8)
        cov[:, idx, idx] += q
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(mean):
            return mean, cov
        wh = np.stack([mean[:, 2], mean[:, 3], mean[:, 2], mean[:, 3]], axis=1)
        r = np.zeros((len(mean), 4, 4))
        idx = np.arange(4)
        r[:, idx, idx] = (self.std_position * wh) ** 2
        return kalman_update(mean, cov, z, r, 4)
