"""The DeepStream pose SGIE on CPU: its nvinfer config and deepstream-app section, its place in the pipeline,
and the probe decoding its tensor meta (laid out as gst-nvinfer attaches it) back to source pixels."""

import configparser
import re
import shutil
import sys

import numpy as np
import pytest

from fake_deepstream import nvinfer_letterbox, pose_output
from fake_gst import FakeGst
from fake_pyds import (
    FakePyds,
    batch_meta,
    frame_meta,
    infer_user_meta,
    obj_meta,
    other_user_meta,
    pose_user_meta,
    tensor_user_meta,
)
from mcpt.backends.deepstream.config_gen import DsOptions, generate
from mcpt.backends.deepstream.pipeline import PipelineSpec, SourceSpec, build_pipeline
from mcpt.backends.deepstream.probe import MetaReader
from mcpt.models.engine_names import engine_path
from mcpt.models.manifest import load_manifest

SOURCE = (1280, 720)
MUX = (960, 544)  # another size and another aspect than the source: x and y scale differently
SX, SY = SOURCE[0] / MUX[0], SOURCE[1] / MUX[1]
NET = (192, 256)  # the pose model's input, width x height


def parse(path):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(path.read_text())
    return cp


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def planted(box, seed):
    """17 keypoints (x, y, confidence) in source pixels inside an x y w h box."""
    rng = np.random.default_rng(seed)
    x, y, w, h = box
    return np.stack(
        [x + rng.uniform(0.05, 0.95, 17) * w, y + rng.uniform(0.02, 0.98, 17) * h, rng.uniform(0.3, 1.0, 17)], axis=1
    )


def to_mux(box):
    x, y, w, h = box
    return (x / SX, y / SY, w / SX, h / SY)


# -- probe ----------------------------------------------------------------------------------------
# source boxes whose streammux rects have odd, fractional origins and sizes (nvinfer's even-pixel crop
# matters): a standing person off-centre (its crop fills the input's height) and a crouching one (its
# crop fills the input's width)
TALL = (903.7, 211.3, 61.9, 171.4)
WIDE = (130.9, 402.6, 157.3, 121.7)


def test_pose_tensors_decode_to_the_planted_keypoints_in_source_pixels():
    tall_kp, wide_kp = planted(TALL, 1), planted(WIDE, 2)
    mux_kp = [kp * [1 / SX, 1 / SY, 1] for kp in (tall_kp, wide_kp)]
    tall_raw = pose_output(mux_kp[0], to_mux(TALL), *NET)
    wide_raw = pose_output(mux_kp[1], to_mux(WIDE), *NET)
    # the two branches of nvinfer's aspect-keeping scale: full input height, full input width
    assert nvinfer_letterbox(to_mux(TALL), *NET)[1][1:4:2] == (0, NET[1])
    assert nvinfer_letterbox(to_mux(WIDE), *NET)[1][0:3:2] == (0, NET[0])
    reid = [tensor_user_meta(unit([1, 0, 0, 0]))[0], tensor_user_meta(unit([0, 1, 0, 0]))[0]]
    tall_meta, tall_buf = pose_user_meta(tall_raw, unique_id=3, network=NET)
    # a model with two outputs: the keypoints are not layer 0
    wide_meta, _ = pose_user_meta(wide_raw, unique_id=3, network=NET, before=[("boxes", np.ones((4, 4)))])
    # another GIE's tensor with a layer of the same name: not the pose SGIE's
    stranger, _ = infer_user_meta(7, [("poses", tall_raw)], (*NET, 3))
    objs = [
        obj_meta(1, to_mux(TALL), user_metas=[other_user_meta(), reid[0], tall_meta]),
        obj_meta(2, to_mux(WIDE), user_metas=[wide_meta, reid[1]]),
        obj_meta(3, to_mux((600, 300, 20, 50)), user_metas=[tensor_user_meta(unit([0, 0, 1, 0]))[0]]),
        obj_meta(4, to_mux((700, 300, 40, 100)), user_metas=[stranger]),
    ]
    reader = MetaReader(FakePyds(), {0: 5}, MUX, embedding_dim=4, pose_sgie_id=3)
    f = reader.read_batch(batch_meta([frame_meta(0, objs, source_size=SOURCE)]))[0]
    tall_buf[:] = 0.0  # nvinfer's pool reuses the buffer after the probe returns

    assert f.keypoints.shape == (4, 17, 3) and f.keypoints.dtype == np.float32
    for got, want in ((f.keypoints[0], tall_kp), (f.keypoints[1], wide_kp)):
        np.testing.assert_allclose(got[:, :2], want[:, :2], atol=0.5)
        np.testing.assert_allclose(got[:, 2], want[:, 2], atol=1e-6)
    assert np.isnan(f.keypoints[2:]).all()  # no pose tensor of the pose SGIE: no pose estimated
    # the ReID vectors beside them are read as before
    np.testing.assert_allclose(f.embeddings[:3], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    # the rows keep their boxes in source pixels
    np.testing.assert_allclose(f.boxes[0], TALL, atol=1e-9)


def test_the_exact_crop_matters():
    """A plain letterbox of the float rect (ignoring nvinfer's even-pixel crop and whole-pixel scaling) puts
    the keypoints more than half a source pixel off for these rects: the test above would see it."""
    for box, seed in ((TALL, 1), (WIDE, 2)):
        kp = planted(box, seed)
        mux = kp[:, :2] / [SX, SY]
        to_input, _ = nvinfer_letterbox(to_mux(box), *NET)
        u, v = to_input(mux[:, 0], mux[:, 1])
        x, y, w, h = to_mux(box)
        s = min(NET[0] / w, NET[1] / h)
        px, py = (NET[0] - w * s) / 2, (NET[1] - h * s) / 2
        naive = np.stack([(x + (u - px) / s) * SX, (y + (v - py) / s) * SY], axis=1)
        assert np.abs(naive - kp[:, :2]).max() > 0.5


def test_keypoints_are_none_without_a_pose_sgie_and_nan_for_a_person_the_model_missed():
    raw = pose_output(None, to_mux(TALL), *NET)  # the model sees nobody: every score 0
    objs = [obj_meta(1, to_mux(TALL), user_metas=[pose_user_meta(raw, network=NET)[0]])]
    frame = frame_meta(0, objs, source_size=SOURCE)
    assert MetaReader(FakePyds(), {0: 5}, MUX).read_batch(batch_meta([frame]))[0].keypoints is None
    kp = MetaReader(FakePyds(), {0: 5}, MUX, pose_sgie_id=3).read_batch(batch_meta([frame]))[0].keypoints
    assert np.isfinite(kp).all() and (kp[..., 2] == 0).all()  # estimated, nothing seen (mcpt.pose.keypoints)


def test_a_half_precision_output_layer_is_read():
    raw = pose_output(planted(TALL, 3) * [1 / SX, 1 / SY, 1], to_mux(TALL), *NET)
    meta, _ = pose_user_meta(raw.astype(np.float16), network=NET)
    f = MetaReader(FakePyds(), {0: 5}, MUX, pose_sgie_id=3).read_batch(
        batch_meta([frame_meta(0, [obj_meta(1, to_mux(TALL), user_metas=[meta])], source_size=SOURCE)])
    )[0]
    np.testing.assert_allclose(f.keypoints[0, :, :2], planted(TALL, 3)[:, :2], atol=1.0)  # fp16 of ~200 px


def test_keypoints_reach_the_observations_above_the_pose_gate(tmp_path):
    from mcpt.backends.deepstream.probe import FrameObjects
    from mcpt.backends.deepstream.worker import StepConverter
    from mcpt.config import load_config
    from mcpt.scene.calibration import load_calibration
    from mcpt.sources.assembler import AssembledStep

    from conftest import good_calibration, write_json

    cfg = load_config()
    cfg.pose.min_score = 0.5
    kp = np.stack([planted(TALL, 1), planted(WIDE, 2)]).astype(np.float32)
    f = FrameObjects(
        camera_id=1,
        frame_num=0,
        pts_s=0.0,
        source_size=SOURCE,
        track_ids=np.array([1, 2]),
        boxes=np.array([TALL, WIDE]),
        scores=np.array([0.9, 0.3]),
        embeddings=np.zeros((2, 4), np.float32),
        keypoints=kp,
    )
    calib = load_calibration(write_json(tmp_path / "calibration.json", good_calibration()), 1)
    batch = StepConverter("s", {1: calib}, cfg, 4)(AssembledStep(0, 0.0, {1: f}))
    np.testing.assert_allclose(batch.keypoints[0], kp[0])
    assert np.isnan(batch.keypoints[1]).all()  # scored below pose.min_score: no pose, as on the CPU
    assert np.isfinite(f.keypoints).all()  # the probe's frame is not changed


# -- pipeline -------------------------------------------------------------------------------------
def _chain(built):
    out, x = [], built.elements["muxer"]
    while x is not None:
        out.append(x.name)
        x = x.linked_to
    return out


@pytest.mark.parametrize("reid_sgie", [True, False])
def test_pose_sgie_follows_the_tracker_and_the_probe_follows_it(reid_sgie):
    srcs = [SourceSpec(i + 1, f"file:///v/cam{i}.mp4") for i in range(2)]
    spec = PipelineSpec(
        srcs, "pgie.txt", "tracker.yml", "reid.txt" if reid_sgie else None, pose_config="pose.txt", pose_batch=32
    )
    probe = object()
    built = build_pipeline(FakeGst(), spec, probe)
    tail = ["tracker", "q-reid", "reid"] if reid_sgie else ["tracker"]
    assert _chain(built)[4:] == [*tail, "q-pose", "pose", "q-out", "sink"]
    pose = built.elements["pose"]
    assert pose.factory == "nvinfer" and pose.props["config-file-path"] == "pose.txt"
    assert pose.props["batch-size"] == 32
    assert pose.pads["src"].probes[0][1] is probe  # after every SGIE whose tensors it reads
    without = build_pipeline(FakeGst(), PipelineSpec(srcs, "pgie.txt", "tracker.yml", "reid.txt"), probe)
    assert "pose" not in without.elements and without.elements["reid"].pads["src"].probes[0][1] is probe


# -- configs --------------------------------------------------------------------------------------
def test_ds_config_pose_sgie_keys_and_its_deepstream_app_section(tmp_path):
    manifest = load_manifest()
    pose = manifest.pose
    sources = [SourceSpec(10 + i, f"/data/s/camera_{i:04d}/video.mp4") for i in range(4)]
    opts = DsOptions(pose=True, pose_batch=32, precision="fp16", gpu_id=1)
    g = generate("s", sources, manifest, tmp_path, opts)
    assert g.pose == tmp_path / "config_infer_pose.txt" and g.pose in g.files
    p = parse(g.pose)["property"]
    pgie, reid = parse(g.pgie)["property"], parse(g.sgie)["property"]
    assert p["process-mode"] == "2" and p["network-type"] == "100" and p["output-tensor-meta"] == "1"
    assert p["operate-on-gie-id"] == pgie["gie-unique-id"] == "1"
    assert p["operate-on-class-ids"] == reid["operate-on-class-ids"] == "0"  # mcpt's parser's person class
    assert p["gie-unique-id"] == "3" and p["gie-unique-id"] != reid["gie-unique-id"]
    assert p["onnx-file"] == str(pose.onnx)
    assert p["model-engine-file"] == str(engine_path(pose.onnx, 32, 1, "fp16")) == str(g.pose_engine)
    assert p["batch-size"] == "32" and p["network-mode"] == "2" and p["gpu-id"] == "1"
    assert float(p["net-scale-factor"]) == pytest.approx(1 / 255) and p["model-color-format"] == "0"
    assert p["maintain-aspect-ratio"] == "1" and p["symmetric-padding"] == "1"
    assert p["infer-dims"] == f"3;{pose.height};{pose.width}" == "3;256;192"
    assert 0 < int(p["input-object-min-width"]) < int(p["input-object-min-height"]) <= 64
    assert p["classifier-async-mode"] == "0" and p["output-blob-names"] == "poses"
    app = parse(g.app)
    s = app["secondary-gie1"]
    assert s["enable"] == "1" and s["config-file"] == "config_infer_pose.txt"
    assert s["gie-unique-id"] == p["gie-unique-id"] and s["batch-size"] == p["batch-size"]
    assert s["operate-on-gie-id"] == "1" and s["operate-on-class-ids"] == "0" and s["gpu-id"] == "1"
    assert app["secondary-gie0"]["gie-unique-id"] == "2" and app["secondary-gie0"]["enable"] == "1"
    # with the tracker computing ReID vectors the pose SGIE still runs
    t = generate("s", sources, manifest, tmp_path / "t", DsOptions(pose=True, tracker_reid=True))
    app = parse(t.app)
    assert app["secondary-gie0"]["enable"] == "0" and app["secondary-gie1"]["enable"] == "1"
    i8 = generate("s", sources, manifest, tmp_path / "i8", DsOptions(pose=True, precision="int8"))
    assert parse(i8.pose)["property"]["int8-calib-file"] == str(pose.onnx.with_suffix(".int8.cache"))


def _cameras_yaml(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text(
        "scene: live\ncameras:\n"
        "  - {id: 1, uri: 'rtsp://10.0.0.1/a', calibration: c1.json}\n"
        "  - {id: 2, uri: 'rtsp://10.0.0.2/b', calibration: c2.json}\n"
    )
    return path


def test_ds_config_cli_pose_and_nothing_about_pose_without_it(tmp_path, capsys):
    from mcpt.cli import main

    cams = _cameras_yaml(tmp_path)
    assert (
        main(["ds-config", "--cameras", str(cams), "--out", str(tmp_path / "p"), "--pose", "--pose-batch", "16"]) == 0
    )
    printed = capsys.readouterr().out
    engine = engine_path(load_manifest().pose.onnx, 16, 0, "fp16")
    assert f"wrote {tmp_path / 'p' / 'config_infer_pose.txt'}" in printed
    assert engine.name in printed and "--pose-batch 16" in printed
    assert parse(tmp_path / "p" / "config_infer_pose.txt")["property"]["model-engine-file"] == str(engine)
    assert parse(tmp_path / "p" / "deepstream_app.txt")["secondary-gie1"]["batch-size"] == "16"

    assert main(["ds-config", "--cameras", str(cams), "--out", str(tmp_path / "n")]) == 0
    printed = capsys.readouterr().out
    assert not (tmp_path / "n" / "config_infer_pose.txt").exists()
    word = re.compile(r"\bpose", re.IGNORECASE)
    for f in (tmp_path / "n").iterdir():
        assert not word.search(f.read_text()), f
    assert "secondary-gie1" not in parse(tmp_path / "n" / "deepstream_app.txt")
    assert not word.search(printed)


def _tiny_pose_onnx(path):
    """An ONNX with the pose model's interface only: images [B, 3, 256, 192] -> poses [B, 6, 56]."""
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [-1, 6, 56])
    graph = helper.make_graph(
        [
            helper.make_node("Slice", ["images", "s", "e", "a"], ["part"]),
            helper.make_node("Reshape", ["part", "shape"], ["poses"]),
        ],
        "pose",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 256, 192])],
        [helper.make_tensor_value_info("poses", TensorProto.FLOAT, ["batch", 6, 56])],
        [
            shape,
            helper.make_tensor("s", TensorProto.INT64, [1], [0]),
            helper.make_tensor("e", TensorProto.INT64, [1], [336]),
            helper.make_tensor("a", TensorProto.INT64, [1], [3]),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.skipif(
    shutil.which("trtexec") is not None or "tensorrt" in sys.modules, reason="TensorRT here: engines would be built"
)
def test_pose_engine_names_agree_between_engines_and_ds_config(tmp_path, capsys):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is importable here: mcpt engines would build instead of printing")
    except ImportError:
        pass
    from mcpt.cli import main

    onnx_path = tmp_path / "pose.onnx"
    _tiny_pose_onnx(onnx_path)
    manifest = tmp_path / "models.yaml"
    manifest.write_text(
        "detector: r\nreid: r\npose: p\nmodels:\n"
        "  r:\n    role: reid\n    source: {path: nowhere.pth}\n    architecture: osnet_x1_0\n"
        f"    input: {{width: 128, height: 256}}\n    onnx: {tmp_path / 'absent.onnx'}\n"
        "  p:\n    role: pose\n    source: {path: nowhere.pt}\n    architecture: yolo11-pose\n"
        "    input: {width: 192, height: 256, letterbox: true}\n    output: {name: poses}\n"
        f"    onnx: {onnx_path}\n"
    )
    argv = ["engines", "--manifest", str(manifest), "--no-export", "--pose-batch", "32", "--gpu", "1"]
    assert main(argv) == 3  # no TensorRT here: the equivalent trtexec commands are printed
    printed = capsys.readouterr().out
    saved = re.findall(r"--saveEngine=(\S+)", printed)
    assert len(saved) == 1  # the pose model only (the ReID ONNX is absent)
    assert "--minShapes=images:1x3x256x192 --optShapes=images:16x3x256x192 --maxShapes=images:32x3x256x192" in printed

    g = generate(
        "s",
        [SourceSpec(1, "rtsp://h/a")],
        load_manifest(manifest),
        tmp_path / "ds",
        DsOptions(pose=True, pose_batch=32, gpu_id=1),
    )
    p = parse(g.pose)["property"]
    assert p["model-engine-file"] == saved[0] == str(g.pose_engine)
    assert p["onnx-file"] == str(onnx_path) in printed


def test_run_pose_file_reaches_the_sgie_and_every_per_gpu_process(tmp_path):
    from mcpt.backends.deepstream.run import passthrough_args
    from mcpt.cli import build_parser

    args = build_parser().parse_args(["run", "split", "--backend", "deepstream", "--out", "r", "--pose", "p.onnx"])
    assert passthrough_args(args)[-2:] == ["--pose", "p.onnx"]
    args = build_parser().parse_args(["run", "split", "--backend", "deepstream", "--out", "r", "--pose"])
    assert passthrough_args(args)[-1] == "--pose"
    assert "--pose" not in passthrough_args(
        build_parser().parse_args(["run", "s", "--backend", "deepstream", "--out", "r"])
    )
    own = tmp_path / "mine.onnx"
    opts = DsOptions(pose=True, pose_onnx=str(own), pose_batch=8)
    g = generate("s", [SourceSpec(1, "rtsp://h/a")], load_manifest(), tmp_path / "ds", opts)
    p = parse(g.pose)["property"]
    assert p["onnx-file"] == str(own) and p["model-engine-file"] == str(engine_path(own, 8, 0, "fp16"))
