"""Body keypoints on ONNX Runtime, top-down: one crop per person box, all crops of a step in one batch.

Each box is enlarged about its centre (the model needs the whole body and a little margin; the
detector's boxes are narrowed by its ``box_width_scale``), letterboxed into the model input
keeping its aspect, and the output decoded to the crop's own person (mcpt.pose.decode) and mapped
back to source pixels.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.models.onnx_session import batch_axis, open_session, run_in_chunks
from mcpt.pose.decode import POSE_VALUES, CropTransform, decode_poses, to_source
from mcpt.pose.keypoints import NUM_KEYPOINTS

# the crop around each x y w h box, as factors of its width and height (about its centre). Measured
# with bench/pose_crop.py (bench/results/pose_crop.md) on 355 crops of vtest.avi with the default
# detector's boxes (their widths narrowed to 0.767 of the detector's): the model finds every real
# person at any factor from 1.0 to 1.6; widening past 1.0 and heightening to 1.3 give the most
# confident keypoints (14.6 of 17 against 14.4 for the bare box) and less frame-to-frame jitter;
# past x1.4 wide and x1.3 high nothing more is gained and a crowd puts more neighbours in the crop
CROP_WIDTH, CROP_HEIGHT = 1.4, 1.3
PAD = 114  # grey, as the model was trained with (Ultralytics' letterbox)


class PoseModel:
    def __init__(
        self,
        path: str | Path,
        width: int = 192,
        height: int = 256,
        max_batch: int = 32,
        threads: int | None = None,
        min_score: float = 0.25,
        crop: tuple[float, float] = (CROP_WIDTH, CROP_HEIGHT),
    ) -> None:
        self.path = Path(path)
        self.session = open_session(path, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        if len(inp.shape) != 4 or inp.shape[1] not in (3, "3"):
            raise InputError(path, f"expected an image input [B, 3, H, W], got {inp.shape}", field=inp.name)
        self.height = inp.shape[2] if isinstance(inp.shape[2], int) else height
        self.width = inp.shape[3] if isinstance(inp.shape[3], int) else width
        self.fixed_batch = batch_axis(self.session)
        self.max_batch = self.fixed_batch or max_batch
        out = self.session.get_outputs()[0]
        if len(out.shape) != 3 or out.shape[2] != POSE_VALUES:
            raise InputError(
                path,
                f"expected a pose output [B, anchors, {POSE_VALUES}] (mcpt export pose), got {out.shape}",
                field=out.name,
            )
        self.min_score = min_score  # the person score below which a crop counts as nobody found
        self.crop_scale = crop
        self.ort_s = 0.0  # time inside ONNX Runtime

    def crops(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, CropTransform, np.ndarray]:
        """(N, 3, H, W) RGB 0..1 inputs of x y w h boxes, where each lies in the source, and where each
        box lies in its input (x1 y1 x2 y2, input pixels: the person the decoder looks for)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        batch = np.empty((n, 3, self.height, self.width), np.float32)
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        region = boxes[:, 2:] * self.crop_scale  # (N, 2) the enlarged box's width and height
        scale = np.minimum(self.width / np.maximum(region[:, 0], 1), self.height / np.maximum(region[:, 1], 1))
        half_in = np.array([self.width, self.height]) / 2
        offset = centre - half_in / scale[:, None]
        for i in range(n):
            s = scale[i]
            m = np.array([[s, 0, -offset[i, 0] * s], [0, s, -offset[i, 1] * s]])
            # warpAffine pads what lies outside the image with grey; the letterbox bands beside the
            # enlarged box are greyed below, so a neighbour there does not reach the model
            img = cv2.warpAffine(
                frame,
                m,
                (self.width, self.height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(PAD, PAD, PAD),
            )
            u1, v1 = np.floor(half_in - region[i] * s / 2).astype(int)
            u2, v2 = np.ceil(half_in + region[i] * s / 2).astype(int)
            if u1 > 0:
                img[:, :u1] = PAD
                img[:, u2:] = PAD
            if v1 > 0:
                img[:v1] = PAD
                img[v2:] = PAD
            batch[i] = img[:, :, ::-1].transpose(2, 0, 1) * (1.0 / 255.0)
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
        expected = (xyxy - np.tile(offset, 2)) * scale[:, None]
        return batch, CropTransform(scale, offset), expected.astype(np.float32)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw (N, anchors, 56) output, in chunks of the largest batch (padded to a fixed one)."""
        t = time.perf_counter()
        out = run_in_chunks(self.session, self.input_name, batch, self.max_batch, self.fixed_batch)
        self.ort_s += time.perf_counter() - t
        return out

    def estimate(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """Per (BGR frame, x y w h boxes) pair, (N, 17, 3) keypoints in that frame's pixels: one batch for all."""
        parts = [self.crops(frame, boxes) for frame, boxes in items if len(boxes)]
        if not parts:
            return [np.zeros((0, NUM_KEYPOINTS, 3), np.float32) for _ in items]
        batch = np.concatenate([p[0] for p in parts])
        transform = CropTransform(
            np.concatenate([p[1].scale for p in parts]), np.concatenate([p[1].offset for p in parts])
        )
        expected = np.concatenate([p[2] for p in parts])
        kp = to_source(decode_poses(self.infer(batch), expected, self.min_score), transform).astype(np.float32)
        out, k = [], 0
        for _, boxes in items:
            n = len(np.asarray(boxes).reshape(-1, 4))
            out.append(kp[k : k + n])
            k += n
        return out
