"""What a top-down pose model reports for a simulated person: COCO-17 keypoints with confidences.

A keypoint is seen (high confidence, small position noise) when it is inside the image, not
hidden by low furniture (below the box's cut row), not behind a nearer person's box and, for the
face, when the person faces the camera. A hidden keypoint is still reported, as pose models do,
at a guessed place with a low confidence. Far (small) people get lower confidences overall.
"""

from __future__ import annotations

import numpy as np

from mcpt.pose.keypoints import NUM_KEYPOINTS
from mcpt.simulate.cameras import PinholeCamera
from mcpt.simulate.skeleton import BODY_FRACTIONS, skeleton_points

FACE = np.array([0, 1, 2])  # nose and eyes: seen only from the front half
SMALL_PX = 80.0  # people shorter than this in the image get proportionally lower confidences


class KeypointView:
    def __init__(self, noise: float, conf: float, rng: np.random.Generator) -> None:
        self.noise = noise
        self.conf = conf
        self.rng = rng

    def observe(
        self,
        cam: PinholeCamera,
        xy: np.ndarray,
        heading: np.ndarray,
        stature: np.ndarray,
        phase: np.ndarray,
        full_box: np.ndarray,
        cut_row: np.ndarray,
        nearer_boxes: list[np.ndarray],
    ) -> np.ndarray:
        """(n, 17, 3) keypoints of n detected people (``full_box``: their unclipped boxes)."""
        n = len(xy)
        out = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
        if not n:
            return out
        rng = self.rng
        uv = cam.project(skeleton_points(xy, heading, stature, phase))  # (n, 17, 2)
        h_px = np.maximum(np.nan_to_num(full_box[:, 3], nan=1.0), 1.0)
        w, h = cam.image_size
        inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        below_cut = uv[..., 1] > cut_row[:, None]
        behind = np.zeros((n, NUM_KEYPOINTS), bool)
        for i, boxes in enumerate(nearer_boxes):
            if len(boxes):
                u, v = uv[i, :, 0:1], uv[i, :, 1:2]
                behind[i] = (
                    (u >= boxes[:, 0])
                    & (u <= boxes[:, 0] + boxes[:, 2])
                    & (v >= boxes[:, 1])
                    & (v <= boxes[:, 1] + boxes[:, 3])
                ).any(axis=1)
        to_cam = cam.centre[:2] - xy
        facing = np.einsum("ij,ij->i", heading, to_cam) > 0
        face_away = np.zeros((n, NUM_KEYPOINTS), bool)
        face_away[:, FACE] = ~facing[:, None]
        hidden = ~inside | below_cut
        seen = ~hidden & ~behind & ~face_away
        size = np.clip(h_px / SMALL_PX, 0.35, 1.0)[:, None]
        conf = np.where(
            seen,
            np.clip(rng.normal(self.conf, 0.06, size=seen.shape), 0.0, 0.99) * (0.6 + 0.4 * size),
            np.where(hidden, rng.uniform(0.0, 0.3, size=seen.shape), rng.uniform(0.1, 0.55, size=seen.shape)),
        )
        sigma = np.where(seen, self.noise, 0.08)[..., None] * h_px[:, None, None] + 0.5
        out[..., :2] = uv + rng.normal(size=uv.shape) * sigma
        out[..., 2] = conf
        return out

    def junk(self, boxes: np.ndarray) -> np.ndarray:
        """Keypoints on a false positive: scattered over the box, none confident."""
        n = len(boxes)
        out = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
        if n:
            r = self.rng.random((n, NUM_KEYPOINTS, 2))
            out[..., :2] = boxes[:, None, :2] + r * boxes[:, None, 2:]
            out[..., 2] = self.rng.uniform(0.0, 0.4, size=(n, NUM_KEYPOINTS))
        return out


def template_keypoints(boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A person-like pose filling each box, seen from the front (static unannotated people, mannequins)."""
    n = len(boxes)
    out = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    if n:
        cx = boxes[:, 0] + boxes[:, 2] / 2
        bottom = boxes[:, 1] + boxes[:, 3]
        hgt = boxes[:, 3]
        out[..., 0] = cx[:, None] - BODY_FRACTIONS[None, :, 0] * hgt[:, None]
        out[..., 1] = bottom[:, None] - BODY_FRACTIONS[None, :, 2] * hgt[:, None]
        out[..., :2] += rng.normal(size=(n, NUM_KEYPOINTS, 2)) * 0.02 * hgt[:, None, None]
        out[..., 2] = np.clip(rng.normal(0.8, 0.08, size=(n, NUM_KEYPOINTS)), 0.0, 0.99)
    return out
