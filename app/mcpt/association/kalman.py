"""Constant-velocity Kalman filter of clusters' floor positions (every cluster at once)."""

from __future__ import annotations

import numpy as np

from mcpt.kalman import kalman_update


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
        return kalman_update(mean, cov, z, r, 2)
