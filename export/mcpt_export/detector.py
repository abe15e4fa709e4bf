"""``mcpt export detector``: an Ultralytics YOLOv8 (``.pt`` weights or a model ``.yaml``) -> ONNX.

Output layout, shared by mcpt's CPU decoder and the DeepStream parser (plugins/):
``detections`` [B, anchors, 6] = x1, y1, x2, y2 (input pixels), score, class — the best class's
score and index per anchor, no NMS (the decoder or nvinfer's clustering does it). Input
``images`` [B, 3, H, W] RGB in 0..1, dynamic batch. The same layout as DeepStream-Yolo's, so its
configs carry over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt_export.torch_utils import INSTALL_HINT, export_onnx, require_torch

INPUT_NAME, OUTPUT_NAME = "images", "detections"


def _offline_ultralytics():
    """Import ultralytics without it ever reaching the network."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cfg = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(Path.home() / ".cache" / "mcpt-ultralytics")))
    cfg.mkdir(parents=True, exist_ok=True)
    try:
        import ultralytics
    except ImportError:
        raise InputError(None, f"exporting a detector needs ultralytics; {INSTALL_HINT}") from None
    return ultralytics


def open_yolo(src: Path, task: str, kind: str):
    """An Ultralytics YOLO object for ``task``, offline; one clear error when the file is not such a model."""
    _offline_ultralytics()
    from ultralytics import YOLO

    try:
        return YOLO(str(src), task=task)
    except Exception as e:
        raise InputError(src, f"not an Ultralytics {kind} model ({type(e).__name__}: {e})") from None


def load_yolo(src: str | Path):
    """The Ultralytics detection model (torch, eval, fused) from a ``.pt`` or a model ``.yaml``."""
    require_torch()
    src = Path(src)
    if src.suffix not in (".pt", ".yaml", ".yml"):
        raise InputError(src, "expected an Ultralytics .pt checkpoint or a model .yaml")
    if src.suffix == ".pt" and not src.is_file():
        raise InputError(src, "detector weights not found")
    if src.suffix != ".pt" and not src.is_file() and not src.name.startswith("yolo"):
        raise InputError(src, "model yaml not found")
    model = open_yolo(src, "detect", "detection").model
    if model is None or not hasattr(model, "model"):
        raise InputError(src, "not an Ultralytics detection model")
    names = getattr(model, "names", None) or {}
    model = model.fuse() if hasattr(model, "fuse") else model
    model.eval().float()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, dict(names) if isinstance(names, dict) else dict(enumerate(names))


PERSON_SCORES = ("max", "any")


class DetectionsHead:
    """Wraps a YOLOv8 DetectionModel: raw [B, 4 + C, A] (cx, cy, w, h, class scores) -> [B, A, 6].

    With ``classes``, the score is taken over those classes only (e.g. the person classes), so a
    person whose box another class outscores is not lost; the class column is the best class's
    index. ``person_score`` combines those classes' scores: ``max`` (the best one) or ``any``
    (1 - prod(1 - p): the chance that any of them fires, YOLOv8's class scores being independent
    sigmoids; for a detector whose classes split people in two, e.g. standing and fallen).
    """

    @staticmethod
    def build(model, classes: tuple[int, ...] | None = None, person_score: str = "max"):
        torch = require_torch()
        if person_score not in PERSON_SCORES:
            raise InputError(
                None, f"expected one of {', '.join(PERSON_SCORES)}, got {person_score!r}", field="person_score"
            )
        any_of = person_score == "any"

        class Head(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m
                self.register_buffer("classes", torch.tensor(classes if classes else [], dtype=torch.long))

            def forward(self, x):
                y = self.m(x)
                y = y[0] if isinstance(y, (list, tuple)) else y
                y = y.transpose(1, 2)
                xy, wh, cls = y[..., :2], y[..., 2:4], y[..., 4:]
                if self.classes.numel():
                    cls = cls.index_select(2, self.classes)
                score, label = cls.max(dim=2, keepdim=True)
                if any_of:
                    score = 1 - torch.prod(1 - cls, dim=2, keepdim=True)
                if self.classes.numel():
                    label = self.classes[label]
                return torch.cat([xy - wh / 2, xy + wh / 2, score, label.to(score.dtype)], dim=2)

        return Head(model).eval()


@dataclass
class DetectorExportResult:
    path: Path
    imgsz: int
    num_classes: int
    class_names: dict
    max_abs_diff: float


def export_detector(
    src: str | Path,
    out: str | Path,
    imgsz: int = 640,
    half: bool = False,
    classes: tuple[int, ...] | None = None,
    person_score: str = "max",
) -> DetectorExportResult:
    torch = require_torch()
    if imgsz % 32:
        raise InputError(None, f"image size must be a multiple of 32, got {imgsz}", field="--imgsz")
    model, names = load_yolo(src)
    if classes and (min(classes) < 0 or max(classes) >= len(names)):
        raise InputError(src, f"classes {list(classes)} outside the model's {len(names)} classes", field="--classes")
    head = DetectionsHead.build(model, classes, person_score)
    dtype = torch.float16 if half else torch.float32
    if half:
        head = head.half()  # FP16 weights and tensors end to end (for TensorRT/GPU runtimes)
    dummy = torch.zeros(1, 3, imgsz, imgsz, dtype=dtype)
    path = export_onnx(head, dummy, out, INPUT_NAME, OUTPUT_NAME)
    x = torch.rand(3, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(dtype)
    with torch.no_grad():
        ref = head(x).float().numpy()
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: x.numpy()})[0]
    diff = float(np.abs(ref[..., :5] - got[..., :5].astype(np.float32)).max())
    return DetectorExportResult(path, imgsz, len(names), names, diff)


def reference_detections(model, x, conf: float, iou: float, classes: tuple[int, ...] | None = None):
    """Torch reference: decode the raw YOLOv8 output and run greedy NMS, per image (for parity tests)."""
    torch = require_torch()
    with torch.no_grad():
        y = model(x)
    y = (y[0] if isinstance(y, (list, tuple)) else y).transpose(1, 2)
    out = []
    for det in y:
        boxes = torch.cat([det[:, :2] - det[:, 2:4] / 2, det[:, :2] + det[:, 2:4] / 2], dim=1)
        cls = det[:, 4:]
        if classes is not None:
            cls = cls[:, list(classes)]
        scores, labels = cls.max(dim=1)
        if classes is not None:
            labels = torch.tensor(classes)[labels]
        keep = scores >= conf
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        order = torch.argsort(scores, descending=True)
        chosen = []
        suppressed = torch.zeros(len(order), dtype=torch.bool)
        for i in range(len(order)):
            if suppressed[i]:
                continue
            chosen.append(order[i])
            b = boxes[order[i]]
            rest = boxes[order]
            lt = torch.maximum(b[:2], rest[:, :2])
            rb = torch.minimum(b[2:], rest[:, 2:])
            inter = (rb - lt).clamp(min=0).prod(dim=1)
            area = (b[2:] - b[:2]).prod() + (rest[:, 2:] - rest[:, :2]).prod(dim=1) - inter
            suppressed |= (inter / area.clamp(min=1e-9)) > iou
        idx = torch.stack(chosen) if chosen else torch.zeros(0, dtype=torch.long)
        out.append(torch.cat([boxes[idx], scores[idx, None], labels[idx, None].float()], dim=1).numpy())
    return out
