"""The DeepStream backend's real run loop (``run_scene``) end to end, on a runtime that behaves like DeepStream.

nvstreammux batches unevenly, a camera fails mid-stream, scene videos are given as bare paths; the
run must end, keep every camera's frames once with their source frame numbers, and give the same
results as the replay backend on the same detections.
"""

import shutil

import numpy as np
import pytest

from fake_deepstream import FrameSource, Runtime
from mcpt.backends.deepstream.config_gen import DsOptions
from mcpt.backends.deepstream.pipeline import SourceSpec, to_uri
from mcpt.backends.deepstream.run import run_scene
from mcpt.backends.replay import load_perception
from mcpt.cli import main
from mcpt.config import REFERENCE_OPERATING_POINTS, load_config
from mcpt.models.manifest import default_manifest_path
from mcpt.scene.layout import discover_scene
from mcpt.scene.results import read_rows
from mcpt.simulate.params import make_params
from mcpt.simulate.scene import write_scene
from mcpt.tracking.sct import SingleCameraTracker

SIZE = (320, 180)
FAIL_CAMERA, FAIL_AT = 3, 40


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    params = make_params("medium", cameras=4, frames=80, seed=9, people_population=6, image_size=SIZE)
    return write_scene(tmp_path_factory.mktemp("ds"), params, render=True, progress=False)


@pytest.fixture
def plain_manifest(tmp_path, monkeypatch):
    """The manifest as the simulator's cached perception needs it: no box correction for its detections,
    its 128-d embeddings in place of the ReID model's."""
    path = tmp_path / "models.yaml"
    text = "".join(line for line in default_manifest_path().open() if "box_width_scale" not in line)
    path.write_text(text.replace("embedding_dim: 1280", "embedding_dim: 128"))
    monkeypatch.setattr("mcpt.models.manifest.default_manifest_path", lambda: path)
    return path


def tracked_frames(scene, cfg) -> dict[str, FrameSource]:
    """What nvinfer + nvtracker + the ReID SGIE would hand on: the cached detections through a tracker."""
    out = {}
    for cam in discover_scene(scene).cameras:
        p = load_perception(cam.perception_path, cam.camera_id)
        sct = SingleCameraTracker(cfg.association.sct, SIZE, fps=p.fps)
        frames = []
        for k in range(p.num_frames):
            r = p.rows(k)
            res = sct.update(k, p.bbox[r], p.score[r], p.embedding[r])
            frames.append(
                [
                    (int(tid), res.box[i], float(p.score[r][i]), p.embedding[r][i])
                    for i, tid in enumerate(res.track_id.tolist())
                ]
            )
        fail = FAIL_AT if cam.camera_id == FAIL_CAMERA else None
        out[to_uri(cam.video)] = FrameSource(frames, SIZE, p.fps, fail_at=fail)
    return out


def test_run_scene_on_uneven_batches_and_a_failing_camera_equals_the_replay(scene, plain_manifest, tmp_path):
    cfg = load_config().with_operating_points(REFERENCE_OPERATING_POINTS)
    rt = Runtime(tracked_frames(scene, cfg), seed=3)
    s = discover_scene(scene)
    sources = [SourceSpec(c.camera_id, str(c.video)) for c in s.cameras]  # bare paths, as scene folders give
    calibs = {c.camera_id: c.calibration() for c in s.cameras}
    out = tmp_path / "ds.txt"
    opts = DsOptions(muxer_width=SIZE[0], muxer_height=SIZE[1], fps=10.0)
    res = run_scene(s.name, sources, calibs, cfg, out, tmp_path / "work", opts, runtime=rt.modules())

    assert rt.batches_sent > 40 and res["probe"].batches == rt.batches_sent
    assert res["probe"].dropped_batches == 0  # files: the hand-off waits, nothing is lost
    assert FAIL_CAMERA in res["errors"] and set(res["ended"]) == {c.camera_id for c in s.cameras}
    # uneven batches: some held two frames of one camera, some none of another
    assert res["summary"].steps == 80
    rows = read_rows(out)
    assert np.all(rows.frame[rows.camera == FAIL_CAMERA] < FAIL_AT)
    assert rows.frame.max() == 79

    # the replay backend on the same detections (camera 3 cut where it failed) gives the same results
    ref_scene = tmp_path / "ref" / s.name
    shutil.copytree(scene, ref_scene)
    path = ref_scene / f"camera_{FAIL_CAMERA:04d}" / "perception.npz"
    z = dict(np.load(path))
    keep = z["frame_id"] < FAIL_AT
    for k in ("frame_id", "bbox", "score", "embedding", "gt_id"):
        z[k] = z[k][keep]
    z["num_frames"] = np.int32(FAIL_AT)
    np.savez(path, **z)
    # no pose SGIE in this run: the replay must not use the simulator's keypoints either
    for cam in discover_scene(ref_scene).cameras:
        z = dict(np.load(cam.perception_path))
        if z.pop("keypoints", None) is not None:
            np.savez(cam.perception_path, **z)
    ref = tmp_path / "replay.txt"
    assert main(["track", str(ref_scene), "--out", str(ref), "-q"]) == 0
    assert out.read_text() == ref.read_text()


def test_interrupt_pushes_an_end_of_stream_through_and_closes_the_results(scene, plain_manifest, tmp_path):
    """Audit F10: Ctrl-C sends EOS into the pipeline and waits for it before stopping (an mp4's index is
    written at end of stream); the results file is complete, not left as .partial."""
    cfg = load_config().with_operating_points(REFERENCE_OPERATING_POINTS)
    rt = Runtime(tracked_frames(scene, cfg), seed=1, interrupt_after_batches=30)
    s = discover_scene(scene)
    sources = [SourceSpec(c.camera_id, str(c.video)) for c in s.cameras]
    out = tmp_path / "ds.txt"
    opts = DsOptions(muxer_width=SIZE[0], muxer_height=SIZE[1], fps=10.0)
    res = run_scene(s.name, sources, {c.camera_id: c.calibration() for c in s.cameras}, cfg, out, tmp_path / "w",
                    opts, runtime=rt.modules())  # fmt: skip
    assert rt.pipeline.events == ["eos"]
    assert out.is_file() and not out.with_name(out.name + ".partial").exists()
    assert 0 < res["summary"].steps < 80


def test_fake_nvurisrcbin_rejects_a_bare_path_as_uridecodebin_does():
    rt = Runtime({})
    gst = rt.gst
    pipeline = gst.Pipeline.new("p")
    mux = gst.ElementFactory.make("nvstreammux", "muxer")
    src = gst.ElementFactory.make("nvurisrcbin", "source-0")
    src.set_property("uri", "/data/scene/camera_0001/video.mp4")
    pipeline.add(mux)
    pipeline.add(src)
    pad = mux.request_pad_simple("sink_0")
    rt._start_source(src, pad, pipeline.bus)
    m = pipeline.bus.messages.get_nowait()
    assert m.type == gst.MessageType.ERROR and "Invalid URI" in m.parse_error()[0]
    assert m.src.get_parent() is src and pad.frames.empty()


def test_deepstream_run_follows_the_failure_policy(scene, plain_manifest, tmp_path, monkeypatch, capsys):
    """A camera whose calibration is broken is left out and listed (exit 0); --strict exits 3 before DeepStream
    starts, as the CPU and replay backends do."""
    copy = tmp_path / "s" / "scene_001"
    shutil.copytree(scene, copy)
    (copy / "camera_0002" / "calibration.json").write_text('{"projection matrix": "broken"}')
    cfg = load_config().with_operating_points(REFERENCE_OPERATING_POINTS)
    started = []

    def fake_runtime():
        started.append(True)
        return Runtime(tracked_frames(copy, cfg), seed=1).modules()

    monkeypatch.setattr("mcpt.backends.deepstream.run.import_deepstream", fake_runtime)
    out = tmp_path / "ds.txt"
    assert main(["run", str(copy), "--backend", "deepstream", "--out", str(out), "--strict"]) == 3
    assert not started and "camera 2" in capsys.readouterr().err
    assert main(["run", str(copy), "--backend", "deepstream", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert started and "| 2      | failed |" in printed
    rows = read_rows(out)
    assert 2 not in set(rows.camera.tolist()) and {1, 3, 4} <= set(rows.camera.tolist())


def body_keypoints(box) -> np.ndarray:
    """17 keypoints (x, y, confidence) at fixed places in an x y w h box, source pixels."""
    x, y, w, h = box
    fx = np.linspace(0.2, 0.8, 17)
    fy = np.linspace(0.05, 0.97, 17)
    return np.stack([x + fx * w, y + fy * h, np.full(17, 0.8)], axis=1)


def test_run_scene_with_the_pose_sgie_carries_keypoints_to_the_observations(scene, plain_manifest, tmp_path):
    """pose.enabled: ds-config's pose SGIE joins the pipeline; the fake nvinfer reads that config (its
    gie-unique-id, input size, minimum object size) and attaches pose tensors; the probe decodes them back
    to source pixels through a muxer of another aspect, and the observations carry them above the gate."""
    cfg = load_config().with_operating_points(REFERENCE_OPERATING_POINTS)
    cfg.pose.enabled, cfg.pose.min_score = True, 0.5
    sources = tracked_frames(scene, cfg)
    for src in sources.values():
        src.frames = [[(*o, body_keypoints(o[1])) for o in objects] for objects in src.frames]
    rt = Runtime(sources, seed=2)
    s = discover_scene(scene)
    mux = (480, 272)  # 1.5 x 1.51: boxes and keypoints scale differently in x and y
    opts = DsOptions(muxer_width=mux[0], muxer_height=mux[1], fps=10.0)
    dump = tmp_path / "obs.npz"
    run_scene(s.name, [SourceSpec(c.camera_id, str(c.video)) for c in s.cameras],
              {c.camera_id: c.calibration() for c in s.cameras}, cfg, tmp_path / "ds.txt", tmp_path / "w", opts,
              runtime=rt.modules(), dump=dump)  # fmt: skip
    assert rt.pose is not None and (tmp_path / "w" / "config_infer_pose.txt").is_file()
    z = np.load(dump)
    kp, bbox, score = z["keypoints"], z["bbox"], z["score"]
    assert kp.shape == (len(bbox), 17, 3)
    mux_w, mux_h = bbox[:, 2] * mux[0] / SIZE[0], bbox[:, 3] * mux[1] / SIZE[1]
    inferred = (mux_w >= rt.pose.min_w) & (mux_h >= rt.pose.min_h)  # nvinfer skips smaller people
    has = np.isfinite(kp).all(axis=(1, 2))
    np.testing.assert_array_equal(has, inferred & (score >= 0.5))
    assert has.sum() > 100 and (~has).sum() > 0
    want = np.stack([body_keypoints(b) for b in bbox[has]])
    np.testing.assert_allclose(kp[has][..., :2], want[..., :2], atol=0.5)
    np.testing.assert_allclose(kp[has][..., 2], 0.8, atol=1e-6)
