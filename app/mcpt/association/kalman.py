"""Batched constant-velocity Kalman filters (every track of a camera or every cluster at once)."""

from __future__ import annotations

import numpy as np


def _kf_update(mean: np.ndarray, cov: np.ndarray, z: np.ndarray, r: np.ndarray, h_dim: int):
    """Standard update for states whose first ``h_dim`` entries are measured directly."""
    s = cov[:, :h_dim, :h_dim] + r
    pht = cov[:, :, :h_dim]
    gain = np.linalg.solve(s, np.swapaxes(pht, 1, 2))  # (n, h, d) = S^-1 H P
    gain = np.swapaxes(gain, 1, 2)  # (n, d, h)
    innov = z - mean[:, :h_dim]
    mean = mean + np.einsum("ndh,nh->nd", gain, innov)
    cov = cov - np.einsum("ndh,nhe->nde", gain, cov[:, :h_dim, :])
    return mean, cov


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
        return _kf_update(mean, cov, z, r, 4)


class PointKalman:
    """Floor position x, y (metres) and velocity; used for a cluster's fused position."""

    def __init__(self, dt: float, accel_std: float = 1.5, meas_std: float = 0.25) -> None:
        self.dt = dt
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        self.f = f
        # white-acceleration process noise
        g = np.array([[0.5 * dt * dt, 0], [0, 0.5 * dt * dt], [dt, 0], [0, dt]])
        self.q = g @ g.T * accel_std**2
        self.meas_std = meas_std

    def initiate(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        mean = np.concatenate([xy, np.zeros_like(xy)], axis=1)
        cov = np.tile(np.diag([self.meas_std**2, self.meas_std**2, 1.0, 1.0]), (len(xy), 1, 1))
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray, steps: np.ndarray | int = 1):
        """Predict ``steps`` frames ahead (per row); rows with 0 steps are unchanged."""
        if not len(mean):
            return mean, cov
        steps = np.broadcast_to(np.asarray(steps), (len(mean),))
        mean = mean.copy()
        cov = cov.copy()
        for k in np.unique(steps):
            if k <= 0:
                continue
            sel = steps == k
            fk = np.linalg.matrix_power(self.f, int(k))
            qk = sum(
                np.linalg.matrix_power(self.f, i) @ self.q @ np.linalg.matrix_power(self.f, i).T for i in range(int(k))
            )
            mean[sel] = mean[sel] @ fk.T
            cov[sel] = fk @ cov[sel] @ fk.T + qk
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray, meas_var: np.ndarray):
        """Update with (n, 2) measurements whose variance per row is ``meas_var`` (n,)."""
        if not len(mean):
            return mean, cov
        r = np.eye(2)[None] * np.asarray(meas_var, np.float64).reshape(-1, 1, 1)
        return _kf_update(mean, cov, z, r, 2)
