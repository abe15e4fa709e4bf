"""``mcpt export pose``: an Ultralytics YOLO pose model (``.pt``, COCO-17 keypoints) -> ONNX.

Output layout, shared by mcpt's CPU decoder (mcpt.pose.decode) and the DeepStream pose SGIE:
``poses`` [B, anchors, 56] = cx, cy, w, h (input pixels), person score, 17 x (x, y, confidence)
with x, y in input pixels and the confidence a probability (0..1), no NMS: the model runs on one
person crop at a time and the decoder picks the anchor of the crop's person. Input ``images``
[B, 3, H, W] RGB in 0..1, dynamic batch.

Ultralytics' pose head (eval, export mode) already returns [B, 4 + 1 + 51, A] with the box as
cx, cy, w, h in input pixels, the class score and the keypoint confidences through a sigmoid, and
the keypoints in input pixels; the wrapper only transposes it (checked by ``check_layout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt.pose.decode import POSE_VALUES
from mcpt.pose.keypoints import NUM_KEYPOINTS
from mcpt_export.detector import open_yolo
from mcpt_export.torch_utils import export_onnx, require_torch

INPUT_NAME, OUTPUT_NAME = "images", "poses"
STRIDE = 32  # YOLO's largest stride: the input sides must be multiples of it


def load_yolo_pose(src: str | Path):
    """The Ultralytics pose model (torch, eval, fused, float) from a ``.pt`` with COCO-17 keypoints."""
    require_torch()
    src = Path(src)
    if src.suffix != ".pt":
        raise InputError(src, "expected an Ultralytics pose .pt checkpoint")
    if not src.is_file():
        raise InputError(src, "pose weights not found")
    model = open_yolo(src, "pose", "pose").model
    head = model.model[-1] if model is not None and hasattr(model, "model") else None
    kpt_shape = list(getattr(head, "kpt_shape", None) or [])
    if kpt_shape != [NUM_KEYPOINTS, 3]:
        raise InputError(src, f"expected a pose model with {NUM_KEYPOINTS} x (x, y, conf) keypoints, got {kpt_shape}")
    if getattr(head, "nc", None) != 1:
        raise InputError(src, f"expected a one-class (person) pose model, got {getattr(head, 'nc', '?')} classes")
    if getattr(head, "end2end", False):
        raise InputError(src, "end-to-end (NMS-free) pose heads are not supported; expected the anchor output")
    model = model.fuse() if hasattr(model, "fuse") else model
    model.eval().float()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class PosesHead:
    """Wraps a YOLO PoseModel: [B, 56, A] -> [B, A, 56] (the pose head in export mode, transposed)."""

    @staticmethod
    def build(model):
        torch = require_torch()
        # export mode: the head returns its decoded tensor alone, and decodes keypoints with views
        # (no in-place slice assignment) -- the same numbers as eval mode (check_layout)
        model.model[-1].export = True

        class Head(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                y = self.m(x)
                y = y[0] if isinstance(y, (list, tuple)) else y
                return y.transpose(1, 2)

        return Head(model).eval()


def check_layout(model, head, x) -> None:
    """The wrapper's output is the eval-mode prediction of Ultralytics, transposed: same boxes (cx, cy, w,
    h), scores, keypoints and (sigmoid-ed) confidences. Raises if a new Ultralytics changes the layout."""
    torch = require_torch()
    pose = model.model[-1]
    with torch.no_grad():
        ours = head(x)
        pose.export = False
        try:
            ref = model(x)
        finally:
            pose.export = True
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).transpose(1, 2)
    if ours.shape != ref.shape or ours.shape[2] != POSE_VALUES:
        raise InputError(None, f"unexpected pose output {list(ours.shape)}; expected [B, anchors, {POSE_VALUES}]")
    if float((ours - ref).abs().max()) > 1e-3:
        raise InputError(None, "the pose head's export output differs from its eval output (Ultralytics changed?)")
    conf = ours[..., 4::3][..., 1:]  # the 17 keypoint confidences (columns 7, 10, ...; column 4 is the score)
    score = ours[..., 4]
    if float(conf.min()) < 0 or float(conf.max()) > 1 or float(score.min()) < 0 or float(score.max()) > 1:
        raise InputError(None, "pose scores or keypoint confidences outside 0..1: not sigmoid-ed")


@dataclass
class PoseExportResult:
    path: Path
    width: int
    height: int
    anchors: int
    max_abs_diff: float  # ONNX Runtime vs torch on random inputs


def export_pose(src: str | Path, out: str | Path, width: int = 192, height: int = 256) -> PoseExportResult:
    torch = require_torch()
    for name, v in (("--width", width), ("--height", height)):
        if v % STRIDE:
            raise InputError(None, f"must be a multiple of {STRIDE}, got {v}", field=name)
    model = load_yolo_pose(src)
    head = PosesHead.build(model)
    x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    check_layout(model, head, x)
    path = export_onnx(head, torch.zeros(1, 3, height, width), out, INPUT_NAME, OUTPUT_NAME)
    with torch.no_grad():
        ref = head(x).numpy()
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: x.numpy()})[0]
    return PoseExportResult(path, width, height, ref.shape[1], float(np.abs(ref - got).max()))
