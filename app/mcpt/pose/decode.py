"""Decoding a top-down pose model's output: one person per crop, keypoints back in source pixels.

The pose model (``mcpt export pose``; a YOLO-pose network run on each person crop) outputs
``poses`` [B, A, 56] per crop: for each of A anchors cx, cy, w, h (input pixels), a person score and
17 x (x, y, confidence) in input pixels. A crop may hold more than its person (a neighbour cut
in half); the anchor taken is the one whose box best covers where the crop's person is expected,
weighted by its score. The CPU backend and the DeepStream probe both decode with ``decode_poses``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcpt.pose.keypoints import NUM_KEYPOINTS

POSE_VALUES = 5 + 3 * NUM_KEYPOINTS  # 56


@dataclass(frozen=True)
class CropTransform:
    """Where each crop's model input lies in the source image: source = input / scale + offset."""

    scale: np.ndarray  # (B,) input pixels per source pixel
    offset: np.ndarray  # (B, 2) source x, y of the input's origin

    def to_source(self, xy: np.ndarray) -> np.ndarray:
        """(B, K, 2) input pixels -> source pixels."""
        return xy / self.scale[:, None, None] + self.offset[:, None, :]


def _iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (B, A, 4) anchor boxes with (B, 4) boxes -> (B, A)."""
    x1 = np.maximum(a[..., 0], b[:, None, 0])
    y1 = np.maximum(a[..., 1], b[:, None, 1])
    x2 = np.minimum(a[..., 2], b[:, None, 2])
    y2 = np.minimum(a[..., 3], b[:, None, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[:, None]
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


MIN_IOU = 0.3  # a person found this far from where the crop's own is expected is a neighbour


def decode_poses(
    raw: np.ndarray, expected_xyxy: np.ndarray, min_score: float = 0.25, min_iou: float = MIN_IOU
) -> np.ndarray:
    """(B, 17, 3) keypoints in input pixels from ``raw`` (B, A, 56).

    ``expected_xyxy`` (B, 4): where the crop's person is, in input pixels. The anchor with the best
    score x IoU with it is taken; a crop whose best anchor scores below ``min_score`` or overlaps the
    expected box by less than ``min_iou`` (no person found, or only a neighbour) gets confidence 0
    everywhere (estimated, nothing seen).
    """
    raw = np.asarray(raw, np.float32)
    if raw.ndim != 3 or raw.shape[2] != POSE_VALUES:
        raise ValueError(f"expected pose output [B, A, {POSE_VALUES}], got {list(raw.shape)}")
    b = len(raw)
    if b == 0:
        return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    cxcywh = raw[..., :4]
    boxes = np.concatenate([cxcywh[..., :2] - cxcywh[..., 2:] / 2, cxcywh[..., :2] + cxcywh[..., 2:] / 2], axis=-1)
    score = raw[..., 4]
    iou = _iou_xyxy(boxes, np.asarray(expected_xyxy, np.float32))
    best = np.argmax(score * iou, axis=1)
    rows = np.arange(b)
    kp = raw[rows, best, 5:].reshape(b, NUM_KEYPOINTS, 3).copy()
    kp[(score[rows, best] < min_score) | (iou[rows, best] < min_iou), :, 2] = 0.0
    return kp


def to_source(kp_input: np.ndarray, transform: CropTransform) -> np.ndarray:
    """Keypoints in input pixels -> source pixels (confidences unchanged)."""
    out = kp_input.copy()
    out[..., :2] = transform.to_source(kp_input[..., :2])
    return out
