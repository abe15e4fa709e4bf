"""Static INT8 quantisation of an exported detector for ONNX Runtime on CPU (QDQ, calibrated on real frames).

The backbone and neck run in INT8 (about twice as fast on CPUs with VNNI); the detection head's
last layers, the DFL and the output decoding stay in float: the output tensor holds pixel
coordinates (hundreds) and scores (0..1) side by side, and one 8-bit scale over both would blur
the scores to nothing. Calibration frames come from a real pedestrian video (Debian opencv-doc's
vtest.avi), letterboxed exactly as the runtime feeds the model.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.models.detector import letterbox

CALIBRATION_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
# the head's inner convolutions (cv2.i.0/1, cv3.i.0/1) are quantised; what follows them is not
_HEAD_INNER = re.compile(r"/model\.\d+/cv[23]\.\d/cv[23]\.\d\.[01]/")


@dataclass
class QuantizeReport:
    path: Path
    calibration_frames: int
    score_diff_median: float  # |INT8 - float| score of confident anchors on held-out frames
    box_diff_median_px: float


def _frames(video: Path, count: int, every: int = 20) -> list[np.ndarray]:
    if not video.is_file():
        raise InputError(video, "calibration video not found (apt install opencv-doc)")
    cap = cv2.VideoCapture(str(video))
    out, k = [], 0
    while len(out) < count:
        ok, img = cap.read()
        if not ok:
            break
        if k % every == 0:
            out.append(img)
        k += 1
    cap.release()
    if len(out) < count:
        raise InputError(video, f"expected {count} calibration frames, the video gave {len(out)}")
    return out


def _prep(img: np.ndarray, size: int) -> np.ndarray:
    image, _ = letterbox(img, size, size)
    return (image[:, :, ::-1].transpose(2, 0, 1) * (1.0 / 255.0)).astype(np.float32)[None]


def _excluded_nodes(model_path: Path) -> list[str]:
    """Every node of the detection head after its inner convolutions, and the output decoding."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    head = max(int(m.group(1)) for n in convs if (m := re.search(r"/model\.(\d+)/", n.name)))
    prefix = f"/model.{head}/"
    keep = [n for n in graph.node if prefix not in n.name and re.search(r"/model\.\d+/", n.name)]
    keep += [n for n in graph.node if prefix in n.name and _HEAD_INNER.search(n.name)]
    kept = {n.name for n in keep}
    return [n.name for n in graph.node if n.name not in kept]


def quantize_detector(src: str | Path, out: str | Path, imgsz: int, frames: int = 16) -> QuantizeReport:
    """``src`` float ONNX (from ``export_detector``) -> ``out`` INT8 QDQ ONNX; checked against the float model."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, out = Path(src), Path(out)
    images = _frames(CALIBRATION_VIDEO, frames + 8)
    calib, held_out = [_prep(f, imgsz) for f in images[:frames]], [_prep(f, imgsz) for f in images[frames:]]
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calib)

        def get_next(self) -> dict | None:
            x = next(self.batches, None)
            return None if x is None else {name: x}

    with tempfile.TemporaryDirectory(prefix="mcpt-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # the exported graph's batch axis is symbolic: ONNX's own shape inference is enough here
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=_excluded_nodes(pre),
        )
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    q = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    score_diffs, box_diffs = [], []
    for x in held_out:
        a, b = ref.run(None, {name: x})[0][0], q.run(None, {name: x})[0][0]
        confident = a[:, 4] > 0.3
        score_diffs.append(np.abs(a[confident, 4] - b[confident, 4]))
        box_diffs.append(np.abs(a[confident, :4] - b[confident, :4]).ravel())
    scores, boxes = np.concatenate(score_diffs), np.concatenate(box_diffs)
    return QuantizeReport(
        out,
        frames,
        float(np.median(scores)) if len(scores) else float("nan"),
        float(np.median(boxes)) if len(boxes) else float("nan"),
    )
