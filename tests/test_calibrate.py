"""Detector operating points: measured from recorded detections, stored in the manifest, used by the runs."""

import shutil

import numpy as np
import pytest

from mcpt.config import REFERENCE_OPERATING_POINTS, OperatingPoints, load_config
from mcpt.models.calibrate import choose_operating_points, score_curve, write_operating_points
from mcpt.models.manifest import default_manifest_path, detector_operating_points, load_manifest
from mcpt.scene.layout import discover_scene
from mcpt.scene.results import Rows, write_rows


def _scene(tmp_path, tp_scores, fp_scores, missed):
    """One camera, one person per frame: a detection with each TP score, FPs beside, some people missed."""
    from conftest import good_calibration, write_json

    scene = tmp_path / "scene_001"
    write_json(scene / "camera_0001" / "calibration.json", good_calibration())
    n = len(tp_scores) + missed
    gt = Rows(
        np.ones(n, np.int64), np.arange(n) + 1, np.arange(n), np.tile([100.0, 100, 40, 120], (n, 1)), np.zeros((n, 2))
    )
    write_rows(scene / "ground_truth.txt", gt)
    k = len(tp_scores)
    frames = np.concatenate([np.arange(k), np.arange(len(fp_scores)) % n])
    boxes = np.concatenate(
        [np.tile([100.0, 100, 40, 120], (k, 1)), np.tile([500.0, 100, 40, 120], (len(fp_scores), 1))]
    )
    np.savez(
        scene / "camera_0001" / "perception_real.npz",
        frame_id=frames.astype(np.int32),
        bbox=boxes.astype(np.float32),
        score=np.concatenate([tp_scores, fp_scores]).astype(np.float32),
        embedding=np.tile(np.eye(1, 8, dtype=np.float32), (len(frames), 1)),
        gt_id=np.concatenate([np.arange(k) + 1, np.full(len(fp_scores), -1)]).astype(np.int32),
        num_frames=np.int32(n),
        fps=np.float32(10),
        image_size=np.array([1920, 1080], np.int32),
        detector=np.array("person-yolov8"),
    )
    return discover_scene(scene)


def test_score_curve_and_operating_points_by_hand(tmp_path):
    # 10 people detected with scores 0.1 ... 0.55 (steps of 0.05), 2 people missed;
    # false positives at 0.08, 0.12, 0.22 and 0.32
    tp = np.round(np.arange(0.1, 0.56, 0.05), 2)
    scene = _scene(tmp_path, tp, np.array([0.08, 0.12, 0.22, 0.32]), missed=2)
    c = score_curve([scene], "real")
    assert c.gt_boxes == 12
    i = list(np.round(c.thresholds, 2)).index(0.3)
    assert c.recall[i] == pytest.approx(6 / 12)  # 0.30 ... 0.55
    assert c.precision[i] == pytest.approx(6 / 7)  # and the FP at 0.32
    op = choose_operating_points(c)
    # F1 is best at 0.10 (recall 10/12, precision 10/13 ~ 0.80); 90% precise from 0.35 on; 50% from 0.05
    assert op.track_high == pytest.approx(0.10)
    assert op.new_track == pytest.approx(0.35)
    assert op.track_low == pytest.approx(0.05)
    assert op.cluster_min_score == op.track_high


def test_operating_points_are_written_to_the_manifest_and_read_back(tmp_path):
    manifest = tmp_path / "models.yaml"
    shutil.copy(default_manifest_path(), manifest)
    before = manifest.read_text()
    op = OperatingPoints(track_high=0.25, track_low=0.1, new_track=0.4, cluster_min_score=0.25)
    write_operating_points(manifest, "person-yolov8", op, "test")
    write_operating_points(manifest, "person-yolov8", op, "test again")  # replaces, never duplicates
    m = load_manifest(manifest)
    assert m.detector.operating_points == op
    entry = manifest.read_text().split("  person-yolov8:")[1].split("\n\n")[0]  # up to the next entry
    assert entry.count("operating_points:") == 1 and "test again" in entry
    # the rest of the file (comments included) is as it was
    assert manifest.read_text().replace(entry, "") == before.replace(
        before.split("  person-yolov8:")[1].split("\n\n")[0], ""
    )
    assert detector_operating_points(m) == (op, "models.yaml person-yolov8")
    # a detector the manifest does not know gets the reference's thresholds, and says so
    ops, origin = detector_operating_points(m, tmp_path / "other.onnx")
    assert ops == REFERENCE_OPERATING_POINTS and "no operating points" in origin


def test_configuration_takes_the_detectors_thresholds_unless_set():
    op = OperatingPoints(track_high=0.25, track_low=0.05, new_track=0.4, cluster_min_score=0.3)
    a = load_config().with_operating_points(op).association
    assert (a.sct.track_high_thresh, a.sct.track_low_thresh, a.sct.new_track_thresh) == (0.25, 0.05, 0.4)
    assert a.clustering.min_score == 0.3
    b = load_config(overrides=["association.sct.track_high_thresh=0.5"]).with_operating_points(op).association
    assert b.sct.track_high_thresh == 0.5 and b.sct.new_track_thresh == 0.4
    ref = load_config("reference").with_operating_points(op).association
    assert (ref.sct.track_high_thresh, ref.sct.new_track_thresh, ref.clustering.min_score) == (0.6, 0.7, 0.6)


def test_replay_of_recorded_detections_uses_their_detectors_thresholds(tmp_path, monkeypatch):
    from mcpt.backends.replay import ReplaySource

    scene = _scene(tmp_path, np.full(5, 0.5), np.zeros(0), missed=0)
    op = OperatingPoints(track_high=0.2, track_low=0.05, new_track=0.3, cluster_min_score=0.2)
    manifest = tmp_path / "models.yaml"
    shutil.copy(default_manifest_path(), manifest)
    write_operating_points(manifest, "person-yolov8", op, "test")
    monkeypatch.setattr("mcpt.models.manifest.default_manifest_path", lambda: manifest)
    src = ReplaySource(scene, load_config(), perception="real")
    assert src.cfg.association.sct.track_high_thresh == 0.2
    # the simulator's perception.npz names no detector: the reference's thresholds
    assert src.detectors == ["person-yolov8"]
