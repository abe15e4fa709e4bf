"""mcpt prepare, train and adapt on a tiny photoreal scene: real people cut from vtest.avi, so the
detector sees them and the ReID model has real crops to learn from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcpt.cli import main
from mcpt.datasets.market import GALLERY, QUERY, TRAIN, list_crops, parse_crop, reid_root
from mcpt.errors import InputError
from mcpt.scene.results import Rows, read_rows, write_rows

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="session")
def tiny_real_scene(tmp_path_factory, default_models) -> Path:
    if not VTEST.is_file():
        pytest.skip("Debian opencv-doc (vtest.avi) not installed")
    from mcpt.models.detector import PersonDetector
    from mcpt.simulate.params import make_params
    from mcpt.simulate.scene import write_scene
    from mcpt.simulate.sprites import build_sprite_bank

    spec = default_models.detector
    bank = build_sprite_bank(VTEST, PersonDetector(spec.onnx, spec.width, spec.height, 0.1), max_frames=120)
    params = make_params(
        "easy", cameras=2, frames=100, fps=10, seed=5, people_population=5, image_size=(640, 360),
        hfov_range_deg=(50, 60),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("tiny-real")
    return write_scene(out, params, render=True, appearance="real", bank=bank, progress=False)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_real_scene, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert main(["-q", "prepare", str(tiny_real_scene), "--out", str(out), "--every", "5", "--test-share", "0.3",
                 "--per-identity", "40"]) == 0  # fmt: skip
    return out


def _torch():
    return pytest.importorskip("torch", reason="training needs the export tools (make install-export)")


def test_prepare_writes_yolo_labels_of_the_ground_truth_and_market_crops(tiny_real_scene, tiny_dataset):
    gt = read_rows(tiny_real_scene / "ground_truth.txt")
    det = tiny_dataset / "det"
    data = (det / "data.yaml").read_text()
    assert "train: images/train" in data and "0: person" in data
    train = sorted((det / "images" / "train").glob("*.jpg"))
    val = sorted((det / "images" / "val").glob("*.jpg"))
    assert len(train) + len(val) == 2 * 20  # frames 0, 5, ... 95 of two cameras
    assert max(int(p.stem[-6:]) for p in train) < min(int(p.stem[-6:]) for p in val)  # val: the end of each video
    # one label row per ground-truth box of that frame, centre and size normalised by the image
    name = train[3].stem
    cam, frame = int(name.split("_c")[1][:4]), int(name[-6:])
    rows = gt.select((gt.camera == cam) & (gt.frame == frame))
    labels = np.loadtxt(det / "labels" / "train" / f"{name}.txt", ndmin=2)
    assert len(labels) == len(rows)
    want = np.column_stack([(rows.box[:, 0] + rows.box[:, 2] / 2) / 640, (rows.box[:, 1] + rows.box[:, 3] / 2) / 360])
    assert np.allclose(np.sort(labels[:, 1]), np.sort(want[:, 0]), atol=2e-3)
    reid = reid_root(tiny_dataset)
    train_crops, query, gallery = (list_crops(reid / f) for f in (TRAIN, QUERY, GALLERY))
    assert train_crops and query and gallery
    assert not {c.person for c in train_crops} & {c.person for c in query + gallery}  # split by identity
    assert {c.person for c in query} <= {c.person for c in gallery}
    # a crop is the ground-truth box of its person on its frame
    c = train_crops[len(train_crops) // 2]
    img = cv2.imread(str(c.path))
    ids = [line.split(",") for line in (reid / "identities.csv").read_text().splitlines()[1:]]
    obj = next(int(o) for p, _, o, _ in ids if int(p) == c.person)
    row = gt.select((gt.camera == c.camera) & (gt.frame == c.frame) & (gt.obj == obj))
    assert len(row) == 1 and abs(img.shape[0] - row.box[0, 3]) <= 2
    assert json.loads((reid / "dataset.json").read_text())["crops"][TRAIN] == len(train_crops)


def test_prepare_resumes_after_an_interruption_and_looks_unfinished_meanwhile(tiny_real_scene, tmp_path, monkeypatch):
    import mcpt.datasets.prepare as prep

    real = prep.write_camera
    calls = []

    def fail_on_second(plan, out, progress=None):
        calls.append(plan.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(plan, out, progress)

    monkeypatch.setattr(prep, "write_camera", fail_on_second)
    out = tmp_path / "ds"
    assert main(["-q", "prepare", str(tiny_real_scene), "--out", str(out), "--every", "10"]) == 130
    assert not (out / "det" / "data.yaml").exists()
    with pytest.raises(InputError, match="unfinished dataset"):
        reid_root(out)
    monkeypatch.setattr(prep, "write_camera", real)
    summary = prep.prepare(tiny_real_scene, out, prep.PrepareOptions(every=10), progress=False)
    assert summary.resumed_cameras == 1 and summary.frames_decoded == 100  # only the second camera again
    assert (out / "det" / "data.yaml").is_file() and reid_root(out) == out / "reid"
    with pytest.raises(InputError, match="other scenes or options"):
        prep.prepare(tiny_real_scene, out, prep.PrepareOptions(every=7), progress=False)


def _copy_scene(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_prepare_bad_input_gives_one_line_and_nothing_complete_looking(tiny_real_scene, tmp_path, caplog):
    from mcpt.datasets.plan import PrepareOptions
    from mcpt.datasets.prepare import prepare

    scene = _copy_scene(tiny_real_scene, tmp_path / "s" / "scene_001")
    gt = read_rows(scene / "ground_truth.txt")
    # camera 2 without rows: skipped with a warning; a box wholly outside the image: dropped and counted
    keep = gt.select(gt.camera == 1)
    outside = Rows(np.array([1]), np.array([99]), np.array([0]), np.array([[700.0, 10, 30, 80]]), np.zeros((1, 2)))
    write_rows(scene / "ground_truth.txt", Rows(*(np.concatenate([a, b]) for a, b in zip(
        (keep.camera, keep.obj, keep.frame, keep.box, keep.world),
        (outside.camera, outside.obj, outside.frame, outside.box, outside.world), strict=True))))  # fmt: skip
    s = prepare(scene, tmp_path / "a", PrepareOptions(what=("det",), every=10), progress=False)
    assert s.cameras == 1 and s.dropped_boxes == 1
    assert "camera_0002 has no ground-truth rows" in caplog.text
    # a video shorter than its ground truth: an error naming it, no data.yaml
    rows = read_rows(scene / "ground_truth.txt")
    late = rows.select(rows.frame == rows.frame.max())
    late.frame = late.frame + 500
    write_rows(scene / "ground_truth.txt", Rows(*(np.concatenate([a, b]) for a, b in zip(
        (rows.camera, rows.obj, rows.frame, rows.box, rows.world),
        (late.camera, late.obj, late.frame, late.box, late.world), strict=True))))  # fmt: skip
    with pytest.raises(InputError, match="the video ends after 100 frames but its ground truth runs to frame"):
        prepare(scene, tmp_path / "b", PrepareOptions(what=("det",), every=10), progress=False)
    assert not (tmp_path / "b" / "det" / "data.yaml").exists()
    # an empty split
    with pytest.raises(InputError, match="training split is empty"):
        prepare(scene, tmp_path / "c", PrepareOptions(what=("reid",), min_height=5000), progress=False)


def test_train_reid_lowers_its_losses_and_exports_a_model_the_runtime_runs(tiny_dataset, tmp_path):
    _torch()
    from mcpt.models.reid import ReIDModel
    from mcpt_export.reid_train import TrainOptions, train_reid

    out = tmp_path / "reid.onnx"
    r = train_reid(tiny_dataset / "reid", out, TrainOptions(epochs=6, crops_per_id=8, workers=0), progress=False)
    first, last = r.history[0], r.history[-1]
    assert last.identity_loss < first.identity_loss and last.triplet_loss < first.triplet_loss
    assert r.before is not None and r.after is not None and r.parity < 1e-3
    model = ReIDModel(out)
    crops = list_crops(tiny_dataset / "reid" / QUERY)
    img = cv2.imread(str(crops[0].path))
    e = model.embed(model.crops(img, np.array([[0, 0, img.shape[1], img.shape[0]]])))
    assert e.shape == (1, 1280) and abs(np.linalg.norm(e) - 1) < 1e-4
    assert r.checkpoint.is_file() and "identity_loss" in r.log_csv.read_text()
    # the checkpoint re-exports through mcpt export's loader (its BNNeck included)
    import torch

    from mcpt_export.reid import build_reid

    x = torch.rand(2, 3, 256, 128) * 255
    with torch.no_grad():
        again = build_reid("mobilenetv2", r.checkpoint)(x).numpy()
    got = model.embed(x.numpy())
    assert np.abs(again - got).max() < 1e-3


def test_register_model_adds_replaces_and_sets_the_default(tmp_path):
    from mcpt.models.manifest import default_manifest_path, load_manifest
    from mcpt.models.register import register_model, reid_entry

    path = tmp_path / "models.yaml"
    shutil.copyfile(default_manifest_path(), path)
    before = path.read_text()
    entry = reid_entry("mobilenetv2", tmp_path / "a.onnx", tmp_path / "a.pt", 256, 128, 1280)
    m = register_model("reid-site", entry, "trained here", manifest=path)
    assert m.get("reid-site").onnx == tmp_path / "a.onnx" and m.default_reid == "reid-mobilenetv2"
    m = register_model("reid-site", {**entry, "embedding_dim": 1281}, "again", default_role="reid", manifest=path)
    text = path.read_text()
    assert text.count("reid-site:") == 1 and "# again" in text and "# trained here" not in text
    assert m.default_reid == "reid-site" and m.get("reid-site").embedding_dim == 1281
    assert before.splitlines()[0] in text  # comments kept
    with pytest.raises(InputError):
        register_model("bad name!", entry, "x", manifest=path)
    assert load_manifest(path).default_reid == "reid-site"


def test_train_detector_fine_tunes_and_exports_offline(tiny_dataset, tmp_path):
    _torch()
    pytest.importorskip("ultralytics")
    from mcpt.models.detector import PersonDetector
    from mcpt_export.detector_train import DetectorTrainOptions, train_detector

    out = tmp_path / "det.onnx"
    r = train_detector(tiny_dataset / "det" / "data.yaml", out, DetectorTrainOptions(epochs=1, imgsz=320, batch=4),
                       progress=False)  # fmt: skip
    assert r.before is not None and r.after is not None and 0 <= r.after.recall <= 1
    entry = r.manifest_entry()
    assert entry["input"]["width"] == 320 and "box_width_scale" not in entry and entry["person_classes"] == [0, 1]
    det = PersonDetector(out, 320, 320, 0.05, 0.45, (0, 1))
    frame = cv2.imread(str(next((tiny_dataset / "det" / "images" / "train").glob("*.jpg"))))
    boxes = det([frame])[0]
    assert boxes.shape[1] == 5 and len(boxes) > 0


def test_mining_links_one_person_across_cameras_and_never_two_of_one_camera():
    from mcpt.adapt.mining import MiningOptions, Tracklet, mine

    steps = np.arange(30)

    def walker(cam, tid, start_xy, velocity, noise_seed):
        rng = np.random.default_rng(noise_seed)
        world = np.array(start_xy) + steps[:, None] * np.array(velocity) + rng.normal(0, 0.05, (30, 2))
        box = np.tile([100.0 + 40 * tid, 50, 40, 120], (30, 1))
        return Tracklet(cam, tid, steps, steps, box, np.full(30, 0.9), world)

    a1, b1 = walker(1, 1, (0, 0), (0.1, 0), 1), walker(1, 2, (0, 3), (0.1, 0), 2)
    a2, b2 = walker(2, 7, (0, 0), (0.1, 0), 3), walker(2, 8, (0, 3), (0.1, 0), 4)
    c1 = walker(1, 3, (0.3, 0), (0.1, 0), 5)  # beside a1 in camera 1: near a2 on the floor, but a1 is nearer
    m = mine([a1, b1, a2, b2, c1], {1: (640, 360), 2: (640, 360)}, MiningOptions(min_score=0.5))
    ident = m.identity
    assert ident[0] == ident[2] and ident[1] == ident[3]  # a1~a2, b1~b2
    assert len({ident[0], ident[1], ident[4]}) == 3  # the three people of camera 1 stay apart
    assert (0, 1) in m.cannot and (0, 4) in m.cannot and m.cross_camera_identities() == 2


def test_separation_auc_and_halves_rank1():
    from mcpt.adapt.separation import auc, separation

    assert auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auc(np.array([0.5]), np.array([0.5])) == 0.5
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    emb = np.repeat(centres, 4, axis=0) + rng.normal(0, 0.1, (12, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    tracklet = np.repeat([1, 2, 3], 4)
    half = np.tile([0, 0, 1, 1], 3)
    s = separation(emb, tracklet, half, [(1, 2), (2, 3)])
    assert s.auc > 0.95 and s.rank1 == 1.0 and s.same_mean > s.different_mean
    # tracklet 4: person 1 again in another camera, at the same time, with the very same look
    emb4 = np.concatenate([emb, emb[:4] + 1e-3])
    emb4 /= np.linalg.norm(emb4, axis=1, keepdims=True)
    t4, h4 = np.concatenate([tracklet, [4] * 4]), np.concatenate([half, [0, 0, 1, 1]])
    assert separation(emb4, t4, h4, [(1, 2), (2, 3)]).rank1 < 0.8  # counted wrong: person 1 found in 4
    group = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1])  # 1 and 4: one pseudo-identity
    assert separation(emb4, t4, h4, [(1, 2), (2, 3)], group).rank1 == 1.0


def test_adapt_reid_mines_identities_and_scores_the_adapted_model(tiny_real_scene, tmp_path):
    _torch()
    scene = _copy_scene(tiny_real_scene, tmp_path / "site" / "scene_001")
    out = tmp_path / "adapted.onnx"
    assert main(["-q", "adapt", "reid", str(scene), "--epochs", "2", "--out", str(out), "--no-register"]) == 0
    assert out.is_file() and (scene / "camera_0001" / "perception_adapt.npz").is_file()
    from mcpt.adapt.run import AdaptOptions, adapt_reid
    from mcpt.models.manifest import load_manifest
    from mcpt.scene.layout import discover_scene

    # again from the recorded perception (kept), as a library call: the report's parts
    r = adapt_reid([discover_scene(scene)], tmp_path / "w", tmp_path / "again.onnx", load_manifest().reid,
                   AdaptOptions(epochs=2, perception="adapt"), progress=False)  # fmt: skip
    m = r.scenes[0].mined
    assert len(m.tracklets) >= 3 and m.identities >= 2 and r.train_identities >= 2
    assert r.scenes[0].purity is not None and r.scenes[0].purity > 0.7  # graded by the unused ground truth
    assert 0 <= r.before.auc <= 1 and 0 <= r.after.auc <= 1 and r.train.history
    names = {parse_crop(p).person for p in (tmp_path / "w" / "dataset" / TRAIN).glob("*.jpg")}
    assert len(names) == r.train_identities


def test_cut_crop_clips_to_the_image_and_refuses_slivers():
    from mcpt.datasets.prepare import cut_crop

    img = np.arange(100 * 80).reshape(100, 80)
    crop = cut_crop(img, np.array([-5.5, 10.2, 20.0, 30.0]))
    assert crop.shape == (31, 15) and crop[0, 0] == img[10, 0]  # outwards: rows 10..40, columns 0..14
    assert cut_crop(img, np.array([70.0, 90.0, 30.0, 30.0])).shape == (10, 10)  # cut by the corner
    assert cut_crop(img, np.array([85.0, 10.0, 10.0, 10.0])) is None  # wholly outside
    assert cut_crop(img, np.array([10.0, 10.0, 3.0, 20.0]), min_w=4, min_h=8) is None


def test_record_scene_keeps_a_current_record_and_redoes_a_stale_one(tiny_real_scene, tmp_path):
    from mcpt.backends.record import record_scene
    from mcpt.config import load_config
    from mcpt.models.runtime import load_models
    from mcpt.scene.layout import discover_scene

    scene = discover_scene(_copy_scene(tiny_real_scene, tmp_path / "site" / "scene_001"))
    det, reid = load_models(load_config(), None, None)

    def record(reid_name: str, seconds: float):
        recs = record_scene(scene, "k", det, reid, "det", reid_name, progress=False, max_seconds=seconds, reuse=True)
        return recs, [r.path.stat().st_mtime_ns for r in recs]

    first, stamps = record("r1", 3)
    assert [r.frames for r in first] == [30, 30] and sum(r.detections for r in first) > 0  # 3 s at 10 fps
    kept, kept_stamps = record("r1", 3)
    assert kept_stamps == stamps and [r.detections for r in kept] == [r.detections for r in first]
    _, other_stamps = record("r2", 3)  # another ReID model: recorded again
    assert all(a != b for a, b in zip(other_stamps, stamps, strict=True))
    with np.load(scene.cameras[0].perception_file("k")) as z:
        assert str(z["reid"]) == "r2"
    longer, _ = record("r2", 5)  # a longer span: recorded again
    assert [r.frames for r in longer] == [50, 50]


def test_calibrate_reid_measures_a_recording_and_the_replay_applies_the_stored_scale(
    tiny_real_scene, tmp_path, monkeypatch, capsys
):
    import mcpt.models.manifest as manifest_mod
    from mcpt.backends.replay import ReplaySource
    from mcpt.config import load_config
    from mcpt.models.reid_calibrate import write_appearance_scale
    from mcpt.scene.layout import discover_scene

    scene = _copy_scene(tiny_real_scene, tmp_path / "site" / "scene_001")
    path = tmp_path / "models.yaml"
    shutil.copyfile(manifest_mod.default_manifest_path(), path)
    monkeypatch.setattr(manifest_mod, "default_manifest_path", lambda: path)
    assert main(["-q", "perceive", str(scene), "--name", "real"]) == 0
    capsys.readouterr()
    assert main(["calibrate-reid", str(scene), "--perception", "real", "--write"]) == 0
    out = capsys.readouterr().out
    assert "same person (tracklet halves)" in out and "different people (seen together)" in out
    printed = float(out.split("appearance scale x")[1].split()[0])
    m = manifest_mod.load_manifest(path)
    assert m.reid.appearance_scale == printed >= 1.0  # written to the model that embedded the recording
    write_appearance_scale(path, m.default_reid, 2.0, "a test's")
    replay = ReplaySource(discover_scene(scene), load_config(), perception="real")
    assert replay.cfg.association.clustering.emb_thresh == pytest.approx(0.60)
    assert replay.cfg.association.refine.split_emb == pytest.approx(0.65)
    user = ReplaySource(
        discover_scene(scene), load_config(overrides=["association.appearance_scale=1"]), perception="real"
    )
    assert user.cfg.association.clustering.emb_thresh == pytest.approx(0.30)
