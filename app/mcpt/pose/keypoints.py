"""COCO-17 keypoints as mcpt carries them: (N, 17, 3) = x, y in source pixels and a confidence in 0..1.

A row whose confidences are NaN had no pose estimated (the model did not run on that box); a
confidence of 0 means estimated and not seen. The reference method used CrowdPose-14 (head top,
neck, 12 limb points); its counts are taken here over the 13 COCO points that correspond (the nose
for the head, the 12 limb points), so its thresholds keep their meaning.
"""

from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 17
NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
HEAD = np.array([0, 1, 2, 3, 4])
SHOULDERS = np.array([5, 6])
HIPS = np.array([11, 12])
KNEES = np.array([13, 14])
ANKLES = np.array([15, 16])
LIMBS = np.arange(5, 17)  # shoulders, elbows, wrists, hips, knees, ankles
BODY = np.concatenate([[0], LIMBS])  # the 13 points CrowdPose-14 also has
# a person seen from the front: left/right pairs swap in the image (drawing, simulation)
SKELETON = (
    (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16), (0, 5), (0, 6),
)  # fmt: skip


def unknown(n: int) -> np.ndarray:
    """(n, 17, 3) keypoints of boxes no pose was estimated for."""
    return np.full((n, NUM_KEYPOINTS, 3), np.nan, np.float32)


def estimated(kp: np.ndarray) -> np.ndarray:
    """(N,) whether each row had a pose estimated."""
    return np.isfinite(kp[:, :, 2]).all(axis=1) if len(kp) else np.zeros(0, bool)


def count_visible(kp: np.ndarray, conf: float, which: np.ndarray = BODY) -> np.ndarray:
    """(N,) keypoints among ``which`` with confidence above ``conf`` (0 where none was estimated)."""
    c = np.nan_to_num(kp[:, which, 2], nan=0.0)
    return (c > conf).sum(axis=1)


def keypoints_inside(kp: np.ndarray, boxes: np.ndarray, groups: np.ndarray, conf: float) -> np.ndarray:
    """(N,) how many confident body keypoints of all people of its group fall inside each x y w h box.

    ``groups`` says which rows see each other (one camera's frame). The box's own person counts too,
    as in the reference's crowding signal (``num_kpts``): a clear view of one person holds at most
    13, and every point beyond comes from someone else.
    """
    out = np.zeros(len(kp), np.int64)
    b = np.asarray(boxes, np.float64)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        pts = kp[rows][:, BODY]  # (people, 13, 3)
        ok = np.nan_to_num(pts[..., 2], nan=0.0) > conf
        x, y = pts[..., 0][ok], pts[..., 1][ok]  # the group's confident points
        bb = b[rows]
        inside = (
            (x[None] >= bb[:, 0:1])
            & (x[None] <= bb[:, 0:1] + bb[:, 2:3])
            & (y[None] >= bb[:, 1:2])
            & (y[None] <= bb[:, 1:2] + bb[:, 3:4])
        )
        out[rows] = inside.sum(axis=1)
    return out
