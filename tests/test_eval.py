import json
import subprocess
import sys

import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.evaluation.metrics import identity_positions
from mcpt.evaluation.run import run_eval
from mcpt.scene.results import Rows, read_rows, write_rows

from hota_reference import hota as reference_hota


@pytest.fixture(scope="module")
def gt(small_scene):
    return read_rows(small_scene / "ground_truth.txt")


def _eval(tmp_path, gt_rows, pred_rows, **kw):
    write_rows(tmp_path / "gt.txt", gt_rows)
    write_rows(tmp_path / "pred.txt", pred_rows)
    res, _ = run_eval(tmp_path / "gt.txt", tmp_path / "pred.txt", **kw)
    return res


def test_ground_truth_against_itself_is_perfect(tmp_path, gt):
    res = _eval(tmp_path, gt, gt)
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert res[k] == pytest.approx(1.0)


def _identity_frames(rows: Rows) -> dict:
    f, o, _ = identity_positions(rows)
    return {"frame": f, "obj": o}


def test_swapping_two_ids_midway_lowers_only_association(tmp_path, gt):
    ids, counts = np.unique(gt.obj, return_counts=True)
    a, b = ids[np.argsort(-counts)[:2]]  # the two longest-lived people
    mid = int(np.median(gt.frame))
    pred = Rows(*(np.copy(getattr(gt, k)) for k in ("camera", "obj", "frame", "box", "world")))
    late = pred.frame >= mid
    pred.obj[late & (gt.obj == a)] = b
    pred.obj[late & (gt.obj == b)] = a
    res = _eval(tmp_path, gt, pred)
    assert res["DetA"] == pytest.approx(1.0)
    assert res["LocA"] == pytest.approx(1.0)
    # AssA from its definition: every TP of a/b belongs to one of four (gt, pred) pairs
    f = _identity_frames(gt)
    n = {i: int(np.sum(f["obj"] == i)) for i in (a, b)}
    early = {i: int(np.sum((f["obj"] == i) & (f["frame"] < mid))) for i in (a, b)}
    later = {i: n[i] - early[i] for i in (a, b)}
    pred_size = {a: early[a] + later[b], b: early[b] + later[a]}
    total = len(f["obj"])
    contrib = 0.0
    for g, p, tpa in [(a, a, early[a]), (a, b, later[a]), (b, b, early[b]), (b, a, later[b])]:
        contrib += tpa * tpa / (n[g] + pred_size[p] - tpa)
    expected_ass = (total - n[a] - n[b] + contrib) / total
    assert res["AssA"] == pytest.approx(expected_ass, abs=1e-9)
    assert res["AssA"] < 0.97
    assert res["HOTA"] == pytest.approx(np.sqrt(expected_ass), abs=1e-9)


@pytest.mark.parametrize("shift", [0.45, 0.55])
def test_shifting_positions_by_about_half_tau(tmp_path, gt, shift):
    pred = Rows(gt.camera, gt.obj, gt.frame, gt.box, gt.world + np.array([shift, 0.0]))
    res = _eval(tmp_path, gt, pred, tau=1.0)
    # similarity is 1 - shift for every true pair: matched only at alphas <= 1 - shift
    # (a little less where people walk side by side 0.6 m apart and a shifted position lands nearer a
    # companion, hence the 0.03 tolerance)
    alive = sum(1 for k in range(1, 20) if 0.05 * k <= 1.0 - shift + 1e-9) / 19
    assert res["DetA"] == pytest.approx(alive, abs=0.03)
    assert res["HOTA"] == pytest.approx(alive, abs=0.03)
    assert res["AssA"] == pytest.approx(alive, abs=0.03)
    # LocA: 1 - shift where matched; TrackEval reports 1 at alphas with no match
    assert res["LocA"] == pytest.approx(alive * (1.0 - shift) + (1 - alive), abs=0.03)
    # and tau scales the same shift: with tau = 2 the similarity is 1 - shift / 2
    res2 = _eval(tmp_path, gt, pred, tau=2.0)
    assert res2["HOTA"] > res["HOTA"]


def test_dropping_half_the_identity_frames(tmp_path, gt):
    rng = np.random.default_rng(0)
    keys = gt.frame * 100000 + gt.obj
    uniq = np.unique(keys)
    dropped = rng.choice(uniq, size=len(uniq) // 2, replace=False)
    pred = gt.select(~np.isin(keys, dropped))
    res = _eval(tmp_path, gt, pred)
    kept_obj = _identity_frames(pred)["obj"]
    all_obj = _identity_frames(gt)["obj"]
    kept = {i: int(np.sum(kept_obj == i)) for i in np.unique(all_obj)}
    total = {i: int(np.sum(all_obj == i)) for i in np.unique(all_obj)}
    tp = sum(kept.values())
    det = tp / len(all_obj)
    ass = sum(kept[i] * kept[i] / total[i] for i in kept) / tp
    assert res["DetRe"] == pytest.approx(det, abs=1e-9)
    assert res["DetPr"] == pytest.approx(1.0)
    assert res["DetA"] == pytest.approx(det, abs=1e-9)
    assert res["AssA"] == pytest.approx(ass, abs=1e-9)
    assert res["HOTA"] == pytest.approx(np.sqrt(det * ass), abs=1e-9)


def test_independent_hota_agrees(tmp_path, gt):
    rng = np.random.default_rng(3)
    # a messy prediction: noise, dropped rows, one id swap, false positives
    pred = Rows(
        gt.camera.copy(), gt.obj.copy(), gt.frame.copy(), gt.box.copy(), gt.world + rng.normal(0, 0.2, gt.world.shape)
    )
    pred = pred.select(rng.random(len(pred)) > 0.2)
    pred.obj[(pred.obj == 2) & (pred.frame > 60)] = 99
    fp = Rows(
        np.ones(50, np.int64), np.full(50, 500), rng.integers(0, 150, 50), np.ones((50, 4)), rng.uniform(0, 10, (50, 2))
    )
    pred = Rows.concat([pred, fp])
    res = _eval(tmp_path, gt, pred)
    ref = reference_hota(tmp_path / "gt.txt", tmp_path / "pred.txt")
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert res[k] == pytest.approx(ref[k], abs=0.01), k
    assert 0.3 < res["HOTA"] < 0.95


def test_cross_camera_id_error_shows_in_all_camera_boxes(tmp_path, gt):
    pred = Rows(gt.camera, gt.obj.copy(), gt.frame, gt.box, gt.world)
    cam = int(gt.camera.max())
    pred.obj[pred.camera == cam] += 1000  # consistent within that camera, wrong across cameras
    res = _eval(tmp_path, gt, pred, boxes=True)
    per_cam = res["scenes"]["gt"]["cameras"]
    assert per_cam[str(cam)]["IDF1"] == pytest.approx(1.0)
    assert res["boxes"]["IDF1"] < 0.9
    assert res["boxes"]["DetA"] == pytest.approx(1.0)


def test_eval_on_split_results_folder_and_merged_file(tmp_path, small_scene, gt):
    split = small_scene.parent
    results = tmp_path / "results"
    write_rows(results / "scene_001.txt", gt)
    res, text = run_eval(split, results, json_out=tmp_path / "out.json")
    assert res["HOTA"] == pytest.approx(1.0)
    assert "scene_001" in text
    data = json.loads((tmp_path / "out.json").read_text())
    assert set(("HOTA", "DetA", "AssA", "LocA")) <= set(data)
    assert all(0.0 <= data[k] <= 1.0 for k in ("HOTA", "DetA", "AssA", "LocA"))
    # one merged submission with a foreign camera's rows
    extra = Rows(np.full(3, 77), np.ones(3, np.int64), np.arange(3), np.ones((3, 4)), np.zeros((3, 2)))
    write_rows(tmp_path / "submission.txt", Rows.concat([gt, extra]))
    res2, _ = run_eval(split, tmp_path / "submission.txt")
    assert res2["HOTA"] == pytest.approx(1.0)


def test_eval_bad_inputs(tmp_path, small_scene):
    with pytest.raises(InputError, match="not found"):
        run_eval(tmp_path / "nope.txt", small_scene / "ground_truth.txt")
    with pytest.raises(InputError, match="tau"):
        run_eval(small_scene / "ground_truth.txt", small_scene / "ground_truth.txt", tau=0)


def test_eval_cli_one_line_error_and_exit_code(tmp_path, small_scene):
    bad = tmp_path / "pred.txt"
    bad.write_text("1 1 0 1 1 1 1 0.0 0.0\n1 1 1 1 1 1 1 0.0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mcpt", "eval", "--gt", str(small_scene / "ground_truth.txt"), "--pred", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{bad}:2" in lines[0] and "expected 9 columns" in lines[0]
