import json
import subprocess
import sys

import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.evaluation.protocols import MeanPositions
from mcpt.evaluation.run import run_eval
from mcpt.scene.results import Rows, read_rows, write_rows

from hota_reference import aic24 as reference_aic24
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
    f, o, _ = MeanPositions.points(rows)
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
    res = _eval(tmp_path, gt, pred, protocol="mean", tau=1.0)
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
    res2 = _eval(tmp_path, gt, pred, protocol="mean", tau=2.0)
    assert res2["HOTA"] > res["HOTA"]
    # the official protocol's similarity is 1 - d / 2 m: the same as the mean protocol at tau 2 here,
    # where every identity's rows agree across cameras
    official = _eval(tmp_path, gt, pred)
    assert official["protocol"] == "aic24" and official["HOTA"] == pytest.approx(res2["HOTA"], abs=1e-9)


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
    res = _eval(tmp_path, gt, pred, protocol="mean")
    ref = reference_hota(tmp_path / "gt.txt", tmp_path / "pred.txt")
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert res[k] == pytest.approx(ref[k], abs=1e-9), k
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
        run_eval(small_scene / "ground_truth.txt", small_scene / "ground_truth.txt", protocol="mean", tau=0)
    with pytest.raises(InputError, match="fixed"):
        run_eval(small_scene / "ground_truth.txt", small_scene / "ground_truth.txt", tau=1.5)


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


# -- the official AIC24 protocol, pinned by cases computed by hand ---------------------------------
ALPHAS = 19  # TrackEval's alphas 0.05, 0.10, ..., 0.95


def _write(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _score(tmp_path, gt_lines, pred_lines, **kw):
    gt = _write(tmp_path / "gt.txt", gt_lines)
    pred = _write(tmp_path / "pred.txt", pred_lines)
    return run_eval(gt, pred, **kw)[0]


def test_official_keeps_the_first_row_where_the_mean_protocol_averages(tmp_path):
    gt = ["1 1 0 0 0 10 20 0.000 0.000", "2 1 0 0 0 10 20 0.000 0.000"]
    # camera 1 puts the person where the truth is, camera 2 1.6 m away
    pred = ["1 7 0 0 0 10 20 0.000 0.000", "2 7 0 0 0 10 20 1.600 0.000"]
    assert _score(tmp_path, gt, pred)["HOTA"] == pytest.approx(1.0)  # the first row: exact
    # the mean of both rows is 0.8 m away: similarity 1 - 0.8 / 1 = 0.2 with tau 1, matched at 4 alphas
    assert _score(tmp_path, gt, pred, protocol="mean")["HOTA"] == pytest.approx(4 / ALPHAS)
    # file order decides: camera 2's row first is 1.6 m off, similarity 1 - 1.6 / 2 = 0.2
    assert _score(tmp_path, gt, pred[::-1])["HOTA"] == pytest.approx(4 / ALPHAS)


def test_a_distance_of_exactly_one_metre_sits_on_an_alpha_boundary(tmp_path):
    gt = ["1 1 0 0 0 10 20 0.000 0.000"]
    # 1.0004 m is rounded to 1.000 m: similarity exactly 0.5, matched at alphas 0.05 ... 0.50
    res = _score(tmp_path, gt, ["1 5 0 0 0 10 20 1.0004 0.000"])
    assert res["DetA"] == pytest.approx(10 / ALPHAS) and res["HOTA"] == pytest.approx(10 / ALPHAS)
    assert res["LocA"] == pytest.approx((10 * 0.5 + 9 * 1.0) / ALPHAS)  # LocA is 1 at alphas without a match
    # 1.0006 m rounds to 1.001 m: just past the boundary
    assert _score(tmp_path, gt, ["1 5 0 0 0 10 20 1.0006 0.000"])["HOTA"] == pytest.approx(9 / ALPHAS)


def test_a_prediction_on_a_frame_without_ground_truth_is_a_false_positive(tmp_path):
    gt = [f"1 1 {f} 0 0 10 20 0.000 0.000" for f in range(10)]
    pred = [f"1 3 {f} 0 0 10 20 0.000 0.000" for f in (*range(10), 20)]
    res = _score(tmp_path, gt, pred)
    assert res["DetA"] == pytest.approx(10 / 11)  # 10 TP, 1 FP at every alpha
    assert res["AssA"] == pytest.approx(10 / (10 + 11 - 10))
    assert res["HOTA"] == pytest.approx(10 / 11)


def test_two_scenes_one_without_predictions_average_unweighted(tmp_path):
    split = tmp_path / "split"
    rows = {"scene_001": (1, 100), "scene_002": (2, 10)}  # (camera, frames): the empty scene is the short one
    for name, (cam, n) in rows.items():
        (split / name).mkdir(parents=True)
        _write(split / name / "ground_truth.txt", [f"{cam} 1 {f} 0 0 10 20 1.000 2.000" for f in range(n)])
    results = tmp_path / "results"
    results.mkdir()
    _write(results / "scene_001.txt", [f"1 4 {f} 0 0 10 20 1.000 2.000" for f in range(100)])
    res, text = run_eval(split, results)
    assert res["scenes"]["scene_001"]["HOTA"] == pytest.approx(1.0)
    assert res["scenes"]["scene_002"]["HOTA"] == 0.0 and res["scenes"]["scene_002"]["LocA"] == 1.0
    assert res["HOTA"] == pytest.approx(0.5) and res["LocA"] == pytest.approx(1.0)  # not detection-weighted
    assert "HOTA 50.0000%" in text
    assert any("scene_002: no predictions" in w for w in res["warnings"])


def test_official_protocol_equals_an_independent_implementation(tmp_path, small_scene, gt):
    rng = np.random.default_rng(5)
    # cameras disagree about positions (so the first row matters), rows dropped, an id swap, false
    # positives on frames with and without ground truth
    pred = Rows(
        gt.camera.copy(), gt.obj.copy(), gt.frame.copy(), gt.box.copy(), gt.world + rng.normal(0, 0.3, gt.world.shape)
    )
    pred = pred.select(rng.permutation(len(pred)))  # file order is not frame order
    pred = pred.select(rng.random(len(pred)) > 0.15)
    pred.obj[(pred.obj == 3) & (pred.frame > 70)] = 98
    fp = Rows(
        np.ones(60, np.int64), np.full(60, 500), rng.integers(0, 170, 60), np.ones((60, 4)), rng.uniform(0, 9, (60, 2))
    )
    pred = Rows.concat([pred, fp])
    write_rows(tmp_path / "pred.txt", pred)
    res, _ = run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt")
    ref = reference_aic24([(small_scene / "ground_truth.txt", tmp_path / "pred.txt", None)])
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert res[k] == pytest.approx(ref[k], abs=1e-9), k
    assert 0.3 < res["HOTA"] < 0.9


def test_official_protocol_over_a_two_scene_split_equals_the_independent_one(tmp_path, small_scene, gt):
    import shutil

    split = tmp_path / "split"
    shutil.copytree(small_scene, split / "scene_001")
    other = gt.select(gt.camera <= 2)
    (split / "scene_002").mkdir()
    write_rows(
        split / "scene_002" / "ground_truth.txt",
        Rows(other.camera + 10, other.obj, other.frame, other.box, other.world),
    )
    rng = np.random.default_rng(6)
    pred = Rows(gt.camera, gt.obj, gt.frame, gt.box, gt.world + rng.normal(0, 0.25, gt.world.shape))
    pred2 = Rows(other.camera + 10, other.obj + 50, other.frame, other.box, other.world + 0.4)
    submission = tmp_path / "submission.txt"
    write_rows(submission, Rows.concat([pred2, pred]))  # one merged file, scenes interleaved by camera
    res, _ = run_eval(split, submission)
    scene_cams = {"scene_001": set(np.unique(gt.camera).tolist()), "scene_002": {11, 12}}
    ref = reference_aic24([(split / n / "ground_truth.txt", submission, c) for n, c in scene_cams.items()])
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert res[k] == pytest.approx(ref[k], abs=1e-9), k
    assert res["scenes"]["scene_002"]["HOTA"] < res["scenes"]["scene_001"]["HOTA"]


# -- inputs that would change the score unnoticed -----------------------------------------------------
def _eval_cli(*args):
    return subprocess.run([sys.executable, "-m", "mcpt", "eval", *map(str, args)], capture_output=True, text=True)


def test_conflicting_duplicate_rows_are_named_and_strict_refuses_them(tmp_path):
    gt = _write(tmp_path / "gt.txt", ["1 1 0 0 0 10 20 0.000 0.000", "1 1 1 0 0 10 20 0.000 0.000"])
    pred = _write(
        tmp_path / "pred.txt",
        ["1 1 0 0 0 10 20 0.000 0.000", "1 1 1 0 0 10 20 0.000 0.000", "1 1 1 0 0 10 20 3.000 0.000"],
    )
    proc = _eval_cli("--gt", gt, "--pred", pred)
    assert proc.returncode == 0
    assert f"{pred}:3" in proc.stderr and "repeat a (camera, id, frame)" in proc.stderr
    strict = _eval_cli("--gt", gt, "--pred", pred, "--strict")
    assert strict.returncode == 2 and strict.stderr.count("\n") == 1 and f"{pred}:3" in strict.stderr


def test_rows_of_cameras_without_ground_truth_are_dropped_and_counted(tmp_path):
    gt = ["1 1 0 0 0 10 20 0.000 0.000"]
    res = _score(
        tmp_path, gt, ["1 1 0 0 0 10 20 0.000 0.000", "9 4 0 0 0 10 20 5.000 5.000", "9 4 1 0 0 10 20 5.0 5.0"]
    )
    assert res["HOTA"] == pytest.approx(1.0)  # camera 9's rows are not false positives
    assert any("2 rows of cameras [9]" in w for w in res["warnings"])


def test_empty_prediction_file_is_an_error(tmp_path):
    gt = _write(tmp_path / "gt.txt", ["1 1 0 0 0 10 20 0.000 0.000"])
    pred = _write(tmp_path / "pred.txt", [])
    proc = _eval_cli("--gt", gt, "--pred", pred)
    assert proc.returncode == 2 and "no result rows" in proc.stderr and proc.stderr.count("\n") == 1


def test_one_based_predictions_are_noticed(tmp_path, small_scene, gt):
    write_rows(tmp_path / "pred.txt", Rows(gt.camera, gt.obj, gt.frame + 1, gt.box, gt.world))
    wrong, _ = run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt")
    assert any("--frame-base 1" in w for w in wrong["warnings"])
    right, _ = run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt", frame_base=1)
    assert right["HOTA"] == pytest.approx(1.0) and not right["warnings"]
    assert wrong["HOTA"] < right["HOTA"]
    assert not run_eval(small_scene / "ground_truth.txt", small_scene / "ground_truth.txt")[0]["warnings"]


def test_scene_cameras_file_restricts_the_scored_cameras(tmp_path, small_scene, gt):
    pred = gt.select(gt.camera != 1)  # camera 1's rows missing: misses, unless camera 1 is not scored
    write_rows(tmp_path / "pred.txt", pred)
    cams = [int(c) for c in np.unique(gt.camera) if c != 1]
    (tmp_path / "cams.json").write_text(json.dumps([{"scene_name": "scene_001", "camera_ids": cams}]))
    all_cams, _ = run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt")
    some, _ = run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt", scene_cameras=tmp_path / "cams.json")
    assert some["HOTA"] == pytest.approx(1.0) and all_cams["HOTA"] < 1.0
    (tmp_path / "bad.json").write_text('{"scene_001": [1]}')
    with pytest.raises(InputError, match="expected a list"):
        run_eval(small_scene / "ground_truth.txt", tmp_path / "pred.txt", scene_cameras=tmp_path / "bad.json")
