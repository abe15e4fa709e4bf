"""The DeepStream backend's logic on CPU: probe (fake pyds), pipeline builder (fake Gst), configs, parser."""

import configparser
import ctypes
import importlib.util
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from fake_gst import FakeGst
from fake_pyds import (
    FakePyds,
    batch_meta,
    frame_meta,
    obj_meta,
    other_user_meta,
    reid_user_meta,
    tensor_user_meta,
)
from mcpt.backends.deepstream.config_gen import DsOptions, generate
from mcpt.backends.deepstream.pipeline import PipelineSpec, SourceSpec, build_pipeline
from mcpt.backends.deepstream.probe import UNTRACKED_OBJECT_ID, MetaReader, ProbeHandler
from mcpt.backends.deepstream.run import assign_scenes, gpu_commands
from mcpt.backends.deepstream.worker import AssociationWorker, StepConverter
from mcpt.config import load_config
from mcpt.errors import InputError
from mcpt.models.engine_names import engine_path
from mcpt.models.manifest import load_manifest
from mcpt.scene.calibration import load_calibration
from mcpt.scene.results import read_rows
from mcpt.tracking.stage import CameraTracking

MUX = (1920, 1080)


def reader(sgie_id=2, dim=4):
    return MetaReader(FakePyds(), {0: 11, 1: 12}, MUX, sgie_id=sgie_id, embedding_dim=dim)


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


# -- probe ----------------------------------------------------------------------------------------
def test_boxes_are_rescaled_from_streammux_to_source_pixels():
    meta, _ = tensor_user_meta(unit([1, 0, 0, 0]))
    b = batch_meta(
        [
            frame_meta(0, [obj_meta(5, (300, 150, 60, 180), user_metas=[meta])], source_size=(1280, 720)),
            frame_meta(1, [obj_meta(6, (960, 540, 96, 216))], source_size=(3840, 2160)),
        ]
    )
    frames = reader().read_batch(b)
    assert [f.camera_id for f in frames] == [11, 12]
    np.testing.assert_allclose(frames[0].boxes, [[200, 100, 40, 120]])  # x 2/3
    np.testing.assert_allclose(frames[1].boxes, [[1920, 1080, 192, 432]])  # x 2
    assert frames[0].source_size == (1280, 720) and frames[0].track_ids.tolist() == [5]


def test_embeddings_are_copied_not_aliased():
    vec = unit([0.1, 0.2, 0.3, 0.4])
    meta, buf = tensor_user_meta(vec.copy())
    frames = reader().read_batch(batch_meta([frame_meta(0, [obj_meta(1, (0, 0, 10, 30), user_metas=[meta])])]))
    buf[:] = 0.0  # nvinfer reuses its output buffer for the next batch
    np.testing.assert_allclose(frames[0].embeddings[0], vec, rtol=1e-6)
    r_meta, r_buf = reid_user_meta(unit([4, 3, 2, 1]))
    frames = reader(sgie_id=None).read_batch(
        batch_meta([frame_meta(0, [obj_meta(1, (0, 0, 10, 30), user_metas=[r_meta])])])
    )
    r_buf[:] = 0.0
    np.testing.assert_allclose(frames[0].embeddings[0], unit([4, 3, 2, 1]), rtol=1e-6)


@pytest.mark.parametrize("stop_iteration", [False, True])
def test_every_list_is_advanced_even_past_other_metas(stop_iteration):
    # before our tensor: a meta of another type, then another GIE's tensor (unique id 3)
    ours, _ = tensor_user_meta(unit([0, 1, 0, 0]), unique_id=2)
    theirs, _ = tensor_user_meta(unit([1, 0, 0, 0]), unique_id=3)
    objs = [
        obj_meta(1, (0, 0, 10, 30), user_metas=[other_user_meta(), theirs, ours], stop_iteration=stop_iteration),
        obj_meta(2, (50, 0, 10, 30), user_metas=[other_user_meta()], stop_iteration=stop_iteration),
    ]
    b = batch_meta([frame_meta(0, objs, stop_iteration=stop_iteration)], stop_iteration=stop_iteration)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("f", reader().read_batch(b)), daemon=True)
    t.start()
    t.join(timeout=5)
    assert not t.is_alive(), "the metadata walk did not terminate"
    f = result["f"][0]
    np.testing.assert_allclose(f.embeddings[0], [0, 1, 0, 0])
    np.testing.assert_array_equal(f.embeddings[1], 0.0)  # no vector came for this object


def test_untracked_and_other_classes_are_skipped():
    objs = [
        obj_meta(UNTRACKED_OBJECT_ID, (0, 0, 10, 30)),
        obj_meta(3, (0, 0, 10, 30), class_id=2),
        obj_meta(4, (0, 0, 10, 30), conf=-0.1, tracker_conf=0.7),
    ]
    f = reader().read_batch(batch_meta([frame_meta(0, objs)]))[0]
    assert f.track_ids.tolist() == [4]
    assert f.scores.tolist() == [pytest.approx(0.7)]  # tracked without a detection: the tracker's confidence


def test_probe_never_blocks_and_counts_drops():
    pyds = FakePyds()
    r = MetaReader(pyds, {0: 1}, MUX)
    handler = ProbeHandler(r, ok_return="OK", queue_size=2)
    for k in range(5):
        pyds.batches[1000 + k] = batch_meta([frame_meta(0, [obj_meta(1, (0, 0, 10, 30))], frame_num=k)])

    class Info:
        def __init__(self, addr):
            self.addr = addr

        def get_buffer(self):
            return FakeBuffer(self.addr)

    class FakeBuffer:
        def __init__(self, addr):
            self.addr = addr

        def __hash__(self):
            return self.addr

    for k in range(5):
        assert handler(None, Info(1000 + k)) == "OK"
    assert handler.stats.batches == 5 and handler.stats.dropped_batches == 3
    assert handler.queue.qsize() == 2
    assert handler(None, SimpleNamespace(get_buffer=lambda: None)) == "OK"
    assert handler(None, Info(424242)) == "OK" and handler.stats.errors == 1  # unknown buffer: skipped, not raised


def test_probe_observations_equal_the_cpu_backends(demo_scene):
    calib = load_calibration(demo_scene / "camera_0001" / "calibration.json", 1)
    cfg = load_config()
    src_size = (480, 360)
    mux = (960, 720)
    boxes_src = np.array([[100.0, 60, 30, 90], [300, 80, 28, 85]])
    emb = np.stack([unit([1, 2, 3, 4]), unit([4, 3, 2, 1])])
    metas = [tensor_user_meta(e)[0] for e in emb]
    objs = [
        obj_meta(7 + i, tuple(b * 2), conf=0.8, user_metas=[m])
        for i, (b, m) in enumerate(zip(boxes_src, metas, strict=True))
    ]
    r = MetaReader(FakePyds(), {0: 1}, mux, embedding_dim=4)
    frames = r.read_batch(batch_meta([frame_meta(0, objs, source_size=src_size)]))
    from mcpt.sources.assembler import AssembledStep

    batch = StepConverter("s", {1: calib}, cfg, 4)(AssembledStep(0, 0.0, {1: frames[0]}))
    cpu = CameraTracking(1, calib.for_image(src_size), cfg.association, src_size).observe(
        "s", 0, 0, 0.0, np.array([7, 8]), boxes_src, np.array([0.8, 0.8]), emb
    )
    np.testing.assert_allclose(batch.bbox, cpu.bbox)
    np.testing.assert_allclose(batch.world_xy, cpu.world_xy)
    np.testing.assert_allclose(batch.world_std, cpu.world_std)
    np.testing.assert_allclose(batch.embedding, cpu.embedding, rtol=1e-6)
    assert batch.local_track_id.tolist() == [7, 8] and batch.camera_id.tolist() == [1, 1]


def test_probe_applies_the_detectors_box_width_correction():
    objs = [obj_meta(3, (100, 50, 40, 120))]
    plain = MetaReader(FakePyds(), {0: 1}, (640, 360)).read_batch(
        batch_meta([frame_meta(0, objs, source_size=(640, 360))])
    )[0]
    narrow = MetaReader(FakePyds(), {0: 1}, (640, 360), box_width_scale=0.75).read_batch(
        batch_meta([frame_meta(0, [obj_meta(3, (100, 50, 40, 120))], source_size=(640, 360))])
    )[0]
    np.testing.assert_allclose(narrow.boxes[0], [105, 50, 30, 120])  # the same centre and bottom
    np.testing.assert_allclose(plain.boxes[0], [100, 50, 40, 120])


def test_association_worker_writes_results(demo_scene, tmp_path):
    calibs = {c: load_calibration(demo_scene / f"camera_000{c}" / "calibration.json", c) for c in (1, 2)}
    q = queue.Queue()
    worker = AssociationWorker(
        q,
        StepConverter("s", calibs, load_config(), 4),
        load_config(),
        tmp_path / "r.txt",
        10,
        {1: 10.0, 2: 10.0},
        False,
    )
    worker.start()
    r = MetaReader(FakePyds(), {0: 1, 1: 2}, (480, 360), embedding_dim=4)
    e = unit([1, 1, 0, 0])
    for k in range(20):
        objs1 = [obj_meta(1, (200 + k, 100, 30, 90), user_metas=[tensor_user_meta(e)[0]])]
        objs2 = [obj_meta(9, (150 + k, 90, 30, 90), user_metas=[tensor_user_meta(e)[0]])]
        q.put(
            (
                "frames",
                r.read_batch(batch_meta([frame_meta(0, objs1, k, (480, 360)), frame_meta(1, objs2, k, (480, 360))])),
            )
        )
    worker.finish()
    worker.join(timeout=30)
    assert worker.error is None and worker.summary.steps == 20
    rows = read_rows(tmp_path / "r.txt")
    assert len(rows) > 0 and set(rows.camera.tolist()) <= {1, 2}


# -- pipeline builder -------------------------------------------------------------------------------
def spec(n=3, rtsp=False, output="none", sgie=True):
    srcs = [SourceSpec(i + 1, f"rtsp://10.0.0.{i}/cam" if rtsp else f"file:///v/cam{i}.mp4") for i in range(n)]
    return PipelineSpec(srcs, Path("pgie.txt"), Path("tracker.yml"), Path("reid.txt") if sgie else None, output=output)


def test_pipeline_elements_properties_and_links():
    gst = FakeGst()
    probe = object()
    built = build_pipeline(gst, spec(3), probe)
    e = built.elements
    assert [x.factory for x in built.pipeline.elements].count("nvurisrcbin") == 3
    mux = e["muxer"]
    assert mux.props["batch-size"] == 3 and mux.props["live-source"] == 0 and mux.props["width"] == 1920
    assert [p.name for p in mux.request_pads] == ["sink_0", "sink_1", "sink_2"]
    assert e["pgie"].props["batch-size"] == 3 and e["pgie"].props["config-file-path"] == "pgie.txt"
    assert e["tracker"].props["ll-config-file"] == "tracker.yml"
    assert e["reid"].props["batch-size"] == 64
    # linked in order: mux -> queue -> pgie -> queue -> tracker -> queue -> reid -> queue -> fakesink
    chain, x = [], mux
    while x is not None:
        chain.append(x.factory)
        x = x.linked_to
    assert chain == ["nvstreammux", "queue", "nvinfer", "queue", "nvtracker", "queue", "nvinfer", "queue", "fakesink"]
    # the probe sits on the ReID SGIE's src pad; each source links its video pad on pad-added
    assert e["reid"].pads["src"].probes == [(FakeGst.PadProbeType.BUFFER, probe, 0)]
    src0 = e["source-0"]
    assert src0.props["uri"] == "file:///v/cam0.mp4" and src0.signals[0][0] == "pad-added"
    assert "select-rtp-protocol" not in src0.props


def test_pipeline_for_rtsp_cameras_and_outputs():
    sp = spec(2, rtsp=True, output="file", sgie=False)
    sp.fps = 25.0
    built = build_pipeline(FakeGst(), sp)
    e = built.elements
    assert e["muxer"].props["live-source"] == 1
    assert e["muxer"].props["batched-push-timeout"] == 40000  # one frame period of the 25 fps cameras
    s = e["source-1"].props
    assert s["select-rtp-protocol"] == 4 and s["latency"] == 200 and s["rtsp-reconnect-attempts"] == -1
    assert "reid" not in e and e["tracker"].pads["src"] is built.probe_pad
    assert e["sink"].factory == "filesink" and e["encoder"].factory == "nvv4l2h264enc"
    assert e["tiler"].props["rows"] * e["tiler"].props["columns"] >= 2
    rt = build_pipeline(FakeGst(), spec(5, rtsp=True, output="rtsp")).elements
    assert rt["sink"].factory == "udpsink" and rt["sink"].props["host"] == "127.0.0.1"


def test_missing_deepstream_element_is_one_clear_error():
    with pytest.raises(InputError, match="'nvtracker' is not available"):
        build_pipeline(FakeGst(missing={"nvtracker"}), spec(1))


# -- per-scene configs ------------------------------------------------------------------------------
def parse(path):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(path.read_text())
    return cp


@pytest.mark.parametrize("n", [1, 4, 16])
def test_ds_config_for_1_4_16_cameras_is_consistent(tmp_path, n):
    manifest = load_manifest()
    sources = [SourceSpec(100 + i, f"/data/scene/camera_{100 + i:04d}/video.mp4") for i in range(n)]
    g = generate("scene_x", sources, manifest, tmp_path, DsOptions(reid_batch=32, precision="fp16"))
    app = parse(g.app)
    src_sections = sorted(s for s in app.sections() if s.startswith("source"))
    assert len(src_sections) == n
    assert app["source0"]["uri"] == "file:///data/scene/camera_0100/video.mp4" and app["source0"]["type"] == "3"
    assert app["streammux"]["batch-size"] == app["primary-gie"]["batch-size"] == str(n)
    assert int(app["tiled-display"]["rows"]) * int(app["tiled-display"]["columns"]) >= n
    pgie, sgie = parse(g.pgie)["property"], parse(g.sgie)["property"]
    assert pgie["batch-size"] == str(n)
    assert pgie["model-engine-file"] == str(engine_path(manifest.detector.onnx, n, 0, "fp16"))
    assert pgie["onnx-file"] == str(manifest.detector.onnx)
    assert pgie["parse-bbox-func-name"] == "NvDsInferParseCustomMcptYolo"
    assert sgie["batch-size"] == app["secondary-gie0"]["batch-size"] == "32"
    assert sgie["model-engine-file"] == str(engine_path(manifest.reid.onnx, 32, 0, "fp16"))
    assert sgie["network-type"] == "100" and sgie["output-tensor-meta"] == "1" and sgie["process-mode"] == "2"
    assert app["secondary-gie0"]["operate-on-gie-id"] == pgie["gie-unique-id"] == "1"
    assert sgie["gie-unique-id"] == app["secondary-gie0"]["gie-unique-id"] == "2"
    assert app["tracker"]["ll-config-file"] == "config_tracker.yml" and (tmp_path / "config_tracker.yml").is_file()
    tracker = yaml.safe_load((tmp_path / "config_tracker.yml").read_text().split("\n", 1)[1])  # after %YAML
    # the SGIE computes the embeddings: no second ReID inference inside the tracker (audit F4)
    assert tracker["ReID"] == {"reidType": 0} and tracker["TrajectoryManagement"]["enableReAssoc"] == 0
    assert "gie-kitti-output-dir" not in app["application"]  # a folder nobody creates (audit F11)


def test_ds_config_takes_the_detectors_operating_points(tmp_path):
    """nvinfer's pre-cluster-threshold and NvDCF's minDetectorConfidence are the detector's track_low, as on CPU."""
    import shutil

    from mcpt.config import OperatingPoints
    from mcpt.models.calibrate import write_operating_points

    path = tmp_path / "models.yaml"
    shutil.copy(load_manifest().path, path)
    write_operating_points(path, "person-yolov8", OperatingPoints(0.25, 0.07, 0.4, 0.25), "test")
    g = generate("s", [SourceSpec(1, "/v/a.mp4")], load_manifest(path), tmp_path / "ds", DsOptions())
    assert parse(g.pgie)["class-attrs-all"]["pre-cluster-threshold"] == "0.07"
    tracker = yaml.safe_load((tmp_path / "ds" / "config_tracker.yml").read_text().split("\n", 1)[1])
    assert tracker["BaseConfig"]["minDetectorConfidence"] == 0.07
    g = generate("s", [SourceSpec(1, "/v/a.mp4")], load_manifest(path), tmp_path / "ds2", DsOptions(conf=0.2))
    assert parse(g.pgie)["class-attrs-all"]["pre-cluster-threshold"] == "0.2"


def test_ds_config_tracker_fp16_and_software_encoder(tmp_path):
    manifest = load_manifest()
    opts = DsOptions(tracker_reid=True, precision="fp16", sink="file", encoder="sw")
    g = generate("s", [SourceSpec(1, "/v/a.mp4")], manifest, tmp_path, opts)
    tracker = yaml.safe_load((tmp_path / "config_tracker.yml").read_text().split("\n", 1)[1])
    assert tracker["ReID"]["networkMode"] == 1  # fp16 is 1 for the tracker, 2 for nvinfer (audit F3)
    assert parse(g.pgie)["property"]["network-mode"] == "2"
    app = parse(g.app)
    assert app["sink0"]["type"] == "3" and app["sink0"]["enc-type"] == "1"  # x264: no NVENC needed (audit F5)
    assert app["source0"]["uri"] == "file:///v/a.mp4"  # a bare path becomes a URI (audit F1)


def test_ds_config_rtsp_sources_msgbroker_and_int8(tmp_path):
    manifest = load_manifest()
    sources = [SourceSpec(1, "rtsp://10.0.0.1:8554/a"), SourceSpec(2, "rtsp://10.0.0.2:8554/b")]
    g = generate(
        "live",
        sources,
        manifest,
        tmp_path,
        DsOptions(msgbroker="kafka;9092", precision="int8", sink="rtsp", tracker_reid=True),
    )
    app = parse(g.app)
    for i in (0, 1):
        s = app[f"source{i}"]
        assert s["type"] == "4" and s["select-rtp-protocol"] == "4" and s["rtsp-reconnect-attempts"] == "-1"
    assert app["streammux"]["live-source"] == "1"
    assert app["sink1"]["type"] == "6" and app["sink1"]["msg-broker-conn-str"] == "kafka;9092"
    # the new nvmsgconv API on deepstream-app's own metadata, every frame (audit F9)
    assert app["sink1"]["msg-conv-msg2p-new-api"] == "1" and app["sink1"]["msg-conv-frame-interval"] == "1"
    assert app["sink0"]["type"] == "4"
    assert app["secondary-gie0"]["enable"] == "0" and g.sgie is None
    tracker = yaml.safe_load((tmp_path / "config_tracker.yml").read_text().split("\n", 1)[1])
    reid = tracker["ReID"]  # the tracker's own ReID on mcpt's model, its vectors output per object
    assert reid["reidType"] == 2 and reid["outputReidTensor"] == 1
    assert reid["onnxFile"] == str(manifest.reid.onnx) and reid["inferDims"] == [
        3,
        manifest.reid.height,
        manifest.reid.width,
    ]
    assert reid["networkMode"] == 2  # INT8 in the tracker's numbering (fp32 0, fp16 1, int8 2; audit F3)
    assert tracker["TrajectoryManagement"]["enableReAssoc"] == 1
    pgie = parse(g.pgie)["property"]
    assert pgie["network-mode"] == "1" and pgie["int8-calib-file"].endswith(".int8.cache")
    assert (tmp_path / "msgconv_config.txt").is_file()


def test_ds_config_cli(tmp_path, demo_scene):
    from mcpt.cli import main

    assert main(["ds-config", str(demo_scene), "--out", str(tmp_path / "ds"), "--sink", "file"]) == 0
    assert parse(tmp_path / "ds" / "deepstream_app.txt")["sink0"]["type"] == "3"
    assert parse(tmp_path / "ds" / "config_infer_primary.txt")["property"]["interval"] == "0"
    # the CPU backend's detector.interval is nvinfer's interval: batches skipped between detections
    assert main(["ds-config", str(demo_scene), "--out", str(tmp_path / "i2"), "--interval", "2"]) == 0
    assert parse(tmp_path / "i2" / "config_infer_primary.txt")["property"]["interval"] == "2"
    assert (
        main(
            [
                "ds-config",
                str(demo_scene),
                "--out",
                str(tmp_path / "r"),
                "--rtsp",
                "rtsp://10.1.1.1:8554/camera_{camera:04d}",
            ]
        )
        == 0
    )
    assert parse(tmp_path / "r" / "deepstream_app.txt")["source0"]["uri"] == "rtsp://10.1.1.1:8554/camera_0001"


# -- multi-GPU --------------------------------------------------------------------------------------
def test_scenes_are_spread_over_gpus(tmp_path):
    scenes = [SimpleNamespace(name=f"scene_{i:03d}", path=tmp_path / f"scene_{i:03d}") for i in range(5)]
    plan = assign_scenes(scenes, [0, 1])
    assert [s.name for s in plan[0]] == ["scene_000", "scene_002", "scene_004"]
    assert [s.name for s in plan[1]] == ["scene_001", "scene_003"]
    cmds = gpu_commands(plan, tmp_path, [])
    assert len(cmds) == 5
    assert cmds[0][cmds[0].index("--gpu-id") + 1] == "0" and cmds[3][cmds[3].index("--gpu-id") + 1] == "1"
    assert cmds[0][cmds[0].index("--out") + 1] == str(tmp_path / "scene_000.txt")


def test_per_gpu_processes_get_the_runs_options(tmp_path):
    """Audit F12d: --fps, the configuration and a video per scene reach every per-GPU process."""
    from mcpt.backends.deepstream.run import passthrough_args
    from mcpt.cli import build_parser

    argv = "run split --backend deepstream --out r --fps 5 --set association.refine.period_s=1"
    args = build_parser().parse_args([*argv.split(), "--tracker-reid", "--encoder", "sw", "--no-refine"])
    extra = passthrough_args(args)
    assert extra[:2] == ["--fps", "5.0"] and extra[2:4] == ["--set", "association.refine.period_s=1"]
    assert {"--tracker-reid", "--no-refine"} <= set(extra) and extra[-2:] == ["--encoder", "sw"]
    scenes = [SimpleNamespace(name="scene_007", path=tmp_path / "scene_007")]
    cmd = gpu_commands({1: scenes}, tmp_path, extra, video_dir=tmp_path / "videos")[0]
    assert cmd[cmd.index("--video") + 1] == str(tmp_path / "videos" / "scene_007.mp4")
    assert cmd[-len(extra) :] == extra


def test_software_encoder_chain_and_the_automatic_choice():
    """Audit F5: GPUs without NVENC encode with x264 from system memory; auto tries NVENC first."""
    from mcpt.backends.deepstream.pipeline import choose_encoder

    sp = spec(2, output="file")
    sp.encoder = "sw"
    gst = FakeGst()
    gst.KNOWN = gst.KNOWN | {"x264enc"}
    e = build_pipeline(gst, sp).elements
    assert e["encoder"].factory == "x264enc" and "NVMM" not in e["caps-enc"].props["caps"][1]
    gst.State = SimpleNamespace(READY=2, NULL=1)
    gst.StateChangeReturn = SimpleNamespace(FAILURE=0, SUCCESS=1)
    FakeElementCls = type(gst.ElementFactory.make("queue", "q"))
    FakeElementCls.set_state = lambda self, state: 0 if self.factory == "nvv4l2h264enc" else 1  # no NVENC here
    try:
        assert choose_encoder(gst, "auto") == "sw" and choose_encoder(gst, "hw") == "hw"
        FakeElementCls.set_state = lambda self, state: 1
        assert choose_encoder(gst, "auto") == "hw"
    finally:
        del FakeElementCls.set_state


def test_dockerfile_keeps_numpy_below_2_and_names_the_pyds_wheel_by_python():
    """Audit F7, F8."""
    text = (Path(__file__).parents[1] / "Dockerfile").read_text()
    assert "PIP_CONSTRAINT" in text and "numpy<2" in text and "opencv-python-headless<4.12" in text
    assert "pyds-${PYDS_VERSION}-${PYDS_PY}-${PYDS_PY}-linux_x86_64.whl" in text and "py3-none" not in text


# -- parser plugin ----------------------------------------------------------------------------------
PLUGIN = Path(__file__).parents[1] / "plugins" / "nvdsinfer_custom_impl_mcpt"
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")


def reference_parse(det, w, h, thr):
    keep = det[:, 4] >= thr
    d = det[keep]
    x1, y1 = np.clip(d[:, 0], 0, w), np.clip(d[:, 1], 0, h)
    x2, y2 = np.clip(d[:, 2], 0, w), np.clip(d[:, 3], 0, h)
    ok = (x2 - x1 >= 1) & (y2 - y1 >= 1)
    return np.stack([x1, y1, x2 - x1, y2 - y1, d[:, 4]], 1)[ok]


@needs_gxx
def test_parser_decode_matches_python(tmp_path):
    lib = tmp_path / "libmcpt_decode.so"
    subprocess.run(
        [
            "g++",
            "-O2",
            "-std=c++17",
            "-fPIC",
            "-shared",
            str(PLUGIN / "decode_harness.cpp"),
            str(PLUGIN / "mcpt_decode.cpp"),
            "-o",
            str(lib),
        ],
        check=True,
    )
    so = ctypes.CDLL(str(lib))
    so.mcpt_decode_c.restype = ctypes.c_int
    rng = np.random.default_rng(0)
    n = 8400
    xy = rng.uniform(-50, 690, (n, 2))
    wh = rng.uniform(0, 200, (n, 2))
    det = np.concatenate([xy, xy + wh, rng.random((n, 1)), np.zeros((n, 1))], 1).astype(np.float32)
    det[5, 4] = np.nan
    out = np.zeros((n, 6), np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    k = so.mcpt_decode_c(det.ctypes.data_as(fp), n, 640, 640, ctypes.c_float(0.5), out.ctypes.data_as(fp), n)
    ref = reference_parse(det, 640, 640, 0.5)
    assert k == len(ref) > 1000
    np.testing.assert_allclose(out[:k, :5], ref, atol=1e-4)
    assert (out[:k, 5] == 0).all()


@needs_gxx
def test_parser_glue_compiles_against_the_documented_interface(tmp_path):
    exe = tmp_path / "parser"
    stubs = Path(__file__).parent / "stubs"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-Wall",
            "-Werror",
            "-Wno-unused-function",
            "-Wno-infinite-recursion",  # NVIDIA's CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE macro recurses by design
            f"-I{stubs}",
            f"-I{PLUGIN}",
            str(stubs / "parser_main.cpp"),
            str(PLUGIN / "nvdsparsebbox_mcpt.cpp"),
            str(PLUGIN / "mcpt_decode.cpp"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    data = "2 640 640 0.3  10 10 100 200 0.9 1  -5 0 50 50 0.2 0"
    out = subprocess.run([str(exe)], input=data, capture_output=True, text=True, check=True).stdout.split()
    assert [float(v) for v in out] == pytest.approx([10, 10, 90, 190, 0.9, 0])


# -- on a real DeepStream machine --------------------------------------------------------------------
def _deepstream_reason() -> str | None:
    if importlib.util.find_spec("pyds") is None:
        return "NVIDIA pyds not installed (DeepStream container only)"
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst

        Gst.init(None)
        if Gst.ElementFactory.find("nvstreammux") is None:
            return "DeepStream GStreamer plugins (nvstreammux) not found"
    except (ImportError, ValueError) as e:
        return f"GStreamer Python bindings unavailable: {e}"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(_deepstream_reason() is not None, reason=str(_deepstream_reason()))
def test_deepstream_runs_the_demo_scene(demo_scene, default_models, tmp_path):
    from mcpt.cli import main

    assert main(["run", str(demo_scene), "--backend", "deepstream", "--out", str(tmp_path / "r.txt")]) == 0
    assert len(read_rows(tmp_path / "r.txt")) > 0
