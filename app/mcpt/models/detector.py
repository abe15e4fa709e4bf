"""Person detector on ONNX Runtime: letterbox, batch across cameras, decode, NMS, person classes.

Two output layouts are understood:
* mcpt's export (``mcpt export detector``): ``[B, A, 6]`` = x1, y1, x2, y2, score, class;
* Ultralytics' raw YOLOv8 export: ``[B, 4 + C, A]`` = cx, cy, w, h, C class scores.
Anything else is rejected when the model is opened, with the shape it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.models.onnx_session import batch_axis, open_session

MCPT_LAYOUT, RAW_LAYOUT = "mcpt", "ultralytics-raw"


@dataclass
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float


def letterbox(img: np.ndarray, width: int, height: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio into width x height, padded with grey (114), centred."""
    h, w = img.shape[:2]
    s = min(width / w, height / h)
    nw, nh = round(w * s), round(h * s)
    out = np.full((height, width, 3), 114, np.uint8)
    px, py = (width - nw) // 2, (height - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, Letterbox(s, px, py)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy class-agnostic NMS over x1 y1 x2 y2 boxes; indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        ov = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[ov <= iou]
    return np.array(keep, dtype=np.int64)


def decode(out: np.ndarray, layout: str, conf: float, iou: float, classes: tuple[int, ...] | None) -> list[np.ndarray]:
    """Per image, (K, 6) x1 y1 x2 y2 score class in network input pixels, after NMS."""
    results = []
    for det in out:
        det = det.astype(np.float32)
        if layout == RAW_LAYOUT:
            det = det.T
            cls = det[:, 4:]
            label = np.argmax(cls, axis=1)
            score = cls[np.arange(len(cls)), label]
            xy, wh = det[:, :2], det[:, 2:4]
            det = np.concatenate([xy - wh / 2, xy + wh / 2, score[:, None], label[:, None].astype(np.float32)], 1)
        keep = det[:, 4] >= conf
        if classes is not None:
            keep &= np.isin(det[:, 5].astype(np.int64), classes)
        det = det[keep]
        results.append(det[nms(det[:, :4], det[:, 4], iou)] if len(det) else np.zeros((0, 6), np.float32))
    return results


class PersonDetector:
    def __init__(
        self,
        path: str | Path,
        width: int = 640,
        height: int = 640,
        conf: float = 0.1,
        iou: float = 0.45,
        person_classes: tuple[int, ...] | None = (0,),
        threads: int | None = None,
        box_width_scale: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.box_width_scale = box_width_scale  # the manifest's correction of this model's box widths
        self.session = open_session(path, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        shape = inp.shape
        if len(shape) != 4:
            raise InputError(path, f"expected an image input [B, 3, H, W], got {shape}", field=inp.name)
        self.height = shape[2] if isinstance(shape[2], int) else height
        self.width = shape[3] if isinstance(shape[3], int) else width
        self.fixed_batch = batch_axis(self.session)
        self.conf, self.iou = conf, iou
        self.classes = tuple(person_classes) if person_classes else None
        self.layout = self._layout()

    def _layout(self) -> str:
        out = self.session.get_outputs()[0]
        shape = out.shape
        if len(shape) == 3 and shape[2] == 6:
            return MCPT_LAYOUT
        if (
            len(shape) == 3
            and isinstance(shape[1], int)
            and 4 < shape[1] < 1000
            and (not isinstance(shape[2], int) or shape[2] > shape[1])
        ):
            return RAW_LAYOUT
        raise InputError(
            self.path,
            f"unexpected detector output shape {shape}; expected [B, anchors, 6] "
            "(mcpt export) or [B, 4 + classes, anchors] (Ultralytics)",
            field=out.name,
        )

    def preprocess(self, frames: list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """BGR frames -> (N, 3, H, W) RGB in 0..1, plus each frame's letterbox."""
        batch = np.empty((len(frames), 3, self.height, self.width), np.float32)
        boxes = []
        for i, f in enumerate(frames):
            img, lb = letterbox(f, self.width, self.height)
            batch[i] = img[:, :, ::-1].transpose(2, 0, 1) * (1.0 / 255.0)
            boxes.append(lb)
        return batch, boxes

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw network output for a preprocessed batch (split where the model has a fixed batch size)."""
        x = batch.astype(self.input_dtype, copy=False)
        if self.fixed_batch is None or self.fixed_batch == len(x):
            return self.session.run(None, {self.input_name: x})[0]
        step = self.fixed_batch
        parts = [self.session.run(None, {self.input_name: x[i : i + step]})[0] for i in range(0, len(x), step)]
        return np.concatenate(parts)

    def postprocess(self, out: np.ndarray, lbs: list[Letterbox], sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Per frame, (K, 5) x y w h score in source pixels (widths corrected by ``box_width_scale``)."""
        results = []
        for det, lb, (w, h) in zip(
            decode(out, self.layout, self.conf, self.iou, self.classes), lbs, sizes, strict=True
        ):
            xyxy = (det[:, :4] - [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]) / lb.scale
            xyxy = np.clip(xyxy, 0, [w, h, w, h])
            xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
            if self.box_width_scale != 1.0:
                xywh[:, 0] += (1 - self.box_width_scale) * xywh[:, 2] / 2
                xywh[:, 2] *= self.box_width_scale
            ok = (xywh[:, 2] >= 2) & (xywh[:, 3] >= 2)
            results.append(np.concatenate([xywh[ok], det[ok, 4:5]], axis=1).astype(np.float64))
        return results

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        batch, lbs = self.preprocess(frames)
        return self.postprocess(self.infer(batch), lbs, [(f.shape[1], f.shape[0]) for f in frames])
