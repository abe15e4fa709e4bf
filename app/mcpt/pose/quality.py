"""The reference method's uses (b)-(d) of pose: which observations may cluster, which looks feed a bank."""

from __future__ import annotations

import numpy as np

from mcpt.config import PoseUseConfig
from mcpt.pose.keypoints import BODY, HEAD, LIMBS, count_visible, estimated, keypoints_inside


def pose_fitness(
    kp: np.ndarray, boxes: np.ndarray, cameras: np.ndarray, cfg: PoseUseConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per observation: (fit for cross-camera clustering, a clear look for the feature bank).

    Rows without an estimated pose pass both (the pose model did not run on them: nothing is
    known against them). Fit: enough limb and head keypoints (b) and not a crowded box (d); a
    clear look: enough body keypoints (c).
    """
    n = len(kp)
    fit, clear = np.ones(n, bool), np.ones(n, bool)
    has = estimated(kp)
    if not has.any():
        return fit, clear
    c = cfg.keypoint_conf
    if cfg.gate:
        enough = (count_visible(kp, c, LIMBS) >= cfg.min_limb_keypoints) & (
            count_visible(kp, c, HEAD) >= cfg.min_head_keypoints
        )
        fit &= ~has | enough
    if cfg.crowd:
        crowded = keypoints_inside(kp, boxes, cameras, c) > cfg.max_crowd_keypoints
        fit &= ~has | ~crowded
    if cfg.bank:
        clear &= ~has | (count_visible(kp, c, BODY) >= cfg.bank_min_keypoints)
    return fit, clear
