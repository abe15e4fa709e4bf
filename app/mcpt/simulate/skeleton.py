"""Simulated people's bodies as COCO-17 keypoints in 3D, walking.

A standing adult's joints as fractions of stature (heights from Drillis & Contini; breadths from
adult anthropometry tables), placed on the person's own axes: forward (the heading), left and up.
Walking swings the legs and, opposite, the arms, with a phase that advances with the distance
walked (a stride every ~0.8 stature).
"""

from __future__ import annotations

import numpy as np

# (left, forward, up) per keypoint, fractions of stature; COCO-17 order (mcpt.pose.keypoints.NAMES)
BODY_FRACTIONS = np.array(
    [
        [0.00, 0.06, 0.935],  # nose
        [0.02, 0.05, 0.945],  # left eye
        [-0.02, 0.05, 0.945],
        [0.045, 0.00, 0.935],  # left ear
        [-0.045, 0.00, 0.935],
        [0.115, 0.00, 0.818],  # left shoulder
        [-0.115, 0.00, 0.818],
        [0.13, 0.00, 0.630],  # left elbow
        [-0.13, 0.00, 0.630],
        [0.12, 0.02, 0.485],  # left wrist
        [-0.12, 0.02, 0.485],
        [0.055, 0.00, 0.530],  # left hip
        [-0.055, 0.00, 0.530],
        [0.055, 0.00, 0.285],  # left knee
        [-0.055, 0.00, 0.285],
        [0.05, 0.00, 0.039],  # left ankle
        [-0.05, 0.00, 0.039],
    ]
)
# forward swing amplitude per keypoint at the extremes of a stride (fraction of stature); left and
# right move oppositely, arms opposite to their side's leg
SWING = np.array([0, 0, 0, 0, 0, 0, 0, -0.04, 0.04, -0.08, 0.08, 0, 0, 0.07, -0.07, 0.15, -0.15])
STRIDE = 0.8  # metres walked per stature per full gait cycle


def skeleton_points(xy: np.ndarray, heading: np.ndarray, stature: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """(n, 17, 3) world points of people at floor ``xy`` facing unit ``heading`` (n, 2), ``phase`` in radians."""
    fwd = np.concatenate([heading, np.zeros((len(xy), 1))], axis=1)
    left = np.stack([-heading[:, 1], heading[:, 0], np.zeros(len(xy))], axis=1)
    up = np.array([0.0, 0.0, 1.0])
    f = BODY_FRACTIONS[None] * stature[:, None, None]  # (n, 17, 3)
    swing = SWING[None] * stature[:, None] * np.sin(phase)[:, None]  # (n, 17)
    base = np.concatenate([xy, np.zeros((len(xy), 1))], axis=1)
    return (
        base[:, None, :]
        + f[..., 0:1] * left[:, None, :]
        + (f[..., 1:2] + swing[..., None]) * fwd[:, None, :]
        + f[..., 2:3] * up[None, None, :]
    )


class Gait:
    """Each identity's heading and gait phase, followed frame to frame from its floor positions."""

    def __init__(self, n_ids: int, rng: np.random.Generator) -> None:
        angle = rng.uniform(0, 2 * np.pi, n_ids)
        self.heading = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        self.phase = rng.uniform(0, 2 * np.pi, n_ids)
        self.last = np.full((n_ids, 2), np.nan)

    def step(self, ids: np.ndarray, xy: np.ndarray, stature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Headings (n, 2) and phases (n,) of ``ids`` now at ``xy``."""
        move = xy - self.last[ids]
        dist = np.linalg.norm(np.nan_to_num(move), axis=1)
        walking = dist > 0.005
        self.heading[ids[walking]] = move[walking] / dist[walking, None]
        self.phase[ids] += 2 * np.pi * dist / (STRIDE * stature)
        self.last[ids] = xy
        return self.heading[ids], self.phase[ids]
