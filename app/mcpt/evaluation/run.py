"""``mcpt eval``: pair ground truth with predictions (files, result folders or splits), check them, score, report."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt.evaluation.metrics import SceneReport, combine, evaluate_scene
from mcpt.evaluation.protocols import HEADLINE_FIELDS, make_protocol
from mcpt.geometry import iou_xywh
from mcpt.scene.layout import GROUND_TRUTH_NAME
from mcpt.scene.results import Rows, read_rows, read_rows_with_lines
from mcpt.table import format_table

log = logging.getLogger(__name__)


class Checks:
    """What in the inputs would change the score unnoticed: one warning line each, or errors with ``strict``."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.warnings: list[str] = []

    def warn(self, where: Path | str, message: str, line: int | None = None) -> None:
        if self.strict:
            raise InputError(where, message + " (--strict)", line=line)
        text = f"{where}{f':{line}' if line else ''}: {message}"
        self.warnings.append(text)
        log.warning("%s", text)


@dataclass
class PredFile:
    path: Path
    rows: Rows
    lines: np.ndarray  # line number of each row


@dataclass
class ScenePair:
    name: str
    cameras: np.ndarray  # the cameras scored: both sides keep only their rows
    gt: Rows
    pred: Rows
    pred_file: PredFile | None


def _scene_name(path: Path) -> str:
    if path.parent.name.startswith("scene_"):
        return path.parent.name
    return path.stem


def load_scene_cameras(path: str | Path) -> dict[str, list[int]]:
    """The official kit's scene -> cameras JSON: [{"scene_name": ..., "camera_ids": [...]}, ...] (repeats merge)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "scene-cameras file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e.msg})", line=e.lineno) from None
    if not isinstance(data, list):
        raise InputError(path, 'expected a list of {"scene_name": ..., "camera_ids": [...]}')
    out: dict[str, list[int]] = {}
    for k, item in enumerate(data):
        if not isinstance(item, dict) or "scene_name" not in item or not isinstance(item.get("camera_ids"), list):
            raise InputError(path, "expected scene_name and a list camera_ids", field=f"[{k}]")
        try:
            cams = [int(c) for c in item["camera_ids"]]
        except (TypeError, ValueError):
            raise InputError(path, "expected integer camera ids", field=f"[{k}].camera_ids") from None
        out.setdefault(str(item["scene_name"]), []).extend(cams)
    return out


def read_predictions(path: Path, frame_base: int, checks: Checks, allow_empty: bool = False) -> PredFile:
    rows, lines = read_rows_with_lines(path, frame_base)
    if not len(rows) and not allow_empty:
        raise InputError(path, "no result rows: nothing to score")
    _check_duplicates(PredFile(path, rows, lines), checks)
    return PredFile(path, rows, lines)


def _check_duplicates(f: PredFile, checks: Checks) -> None:
    """Two rows with the same (camera, id, frame) and different positions: the official scorer keeps the first."""
    r = f.rows
    if not len(r):
        return
    key = np.stack([r.camera, r.obj, r.frame], axis=1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    differs = np.any(np.round(r.world, 3) != np.round(r.world[first[inv]], 3), axis=1)
    if differs.any():
        i = int(np.argmax(differs))
        checks.warn(
            f.path,
            f"{int(differs.sum())} rows repeat a (camera, id, frame) with another position (camera {r.camera[i]}, "
            f"id {r.obj[i]}, frame {r.frame[i]}); the official scorer keeps the first row of each (frame, id)",
            line=int(f.lines[i]),
        )


def _drop_other_cameras(f: PredFile, cameras: np.ndarray, what: str, checks: Checks) -> None:
    """Warn that the rows of ``f`` whose camera is not in ``cameras`` are left out (the pairing drops them)."""
    stray = ~np.isin(f.rows.camera, cameras)
    if stray.any():
        i = int(np.argmax(stray))
        cams = np.unique(f.rows.camera[stray]).tolist()
        checks.warn(
            f.path,
            f"{int(stray.sum())} rows of cameras {cams} that {what} are left out of the score",
            line=int(f.lines[i]),
        )


def frame_alignment(gt: Rows, pred: Rows, sample: int = 4000) -> dict[int, float]:
    """Mean best box IoU of (a sample of) the predictions with the ground truth of the same camera at the
    frame they name (shift 0) and one frame earlier (shift 1: what 1-based frame ids look like)."""
    by_key: dict[tuple[int, int], np.ndarray] = {}
    order = np.lexsort((gt.frame, gt.camera))
    keys = np.stack([gt.camera[order], gt.frame[order]], axis=1)
    if len(keys):
        bounds = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
        for idx in np.split(order, bounds):
            by_key[(int(gt.camera[idx[0]]), int(gt.frame[idx[0]]))] = gt.box[idx]
    pick = np.linspace(0, len(pred) - 1, min(sample, len(pred))).astype(int) if len(pred) else []
    out = {}
    for shift in (0, 1):
        best = []
        for i in pick:
            boxes = by_key.get((int(pred.camera[i]), int(pred.frame[i]) - shift))
            best.append(float(iou_xywh(pred.box[i][None], boxes).max()) if boxes is not None else 0.0)
        out[shift] = float(np.mean(best)) if best else 0.0
    return out


def _check_frame_base(pair: ScenePair, checks: Checks) -> None:
    g, p = pair.gt, pair.pred
    if not len(g) or not len(p) or pair.pred_file is None:
        return
    shifted_range = p.frame.min() == g.frame.min() + 1 and p.frame.max() == g.frame.max() + 1
    agreement = frame_alignment(g, p)
    if agreement[1] > agreement[0] + 0.05 or (shifted_range and agreement[1] >= agreement[0]):
        checks.warn(
            pair.pred_file.path,
            f"{pair.name}: the predictions line up with the ground truth one frame later than they say (box "
            f"agreement {agreement[1]:.2f} against {agreement[0]:.2f}): are they 1-based? use --frame-base 1",
        )


def ground_truth_scenes(path: Path) -> list[tuple[str, Path]]:
    """(scene name, ground_truth.txt) of a scene folder or of every scene_XXX folder of a split."""
    if (path / GROUND_TRUTH_NAME).is_file():
        return [(path.name, path / GROUND_TRUTH_NAME)]
    found = [(p.name, p / GROUND_TRUTH_NAME) for p in sorted(path.glob("scene_*")) if (p / GROUND_TRUTH_NAME).is_file()]
    if not found:
        raise InputError(path, f"no {GROUND_TRUTH_NAME} in it or in a scene_XXX folder under it")
    return found


def pair_inputs(
    gt: Path,
    pred: Path,
    gt_frame_base: int = 0,
    frame_base: int = 0,
    scene_cameras: dict[str, list[int]] | None = None,
    checks: Checks | None = None,
) -> list[ScenePair]:
    """Every scene the inputs describe, both sides restricted to the scene's cameras (as the official
    scorer does: the scene-cameras JSON, or the cameras present in the scene's ground truth)."""
    checks = checks or Checks()
    if not gt.exists():
        raise InputError(gt, "ground truth not found")
    if not pred.exists():
        raise InputError(pred, "predictions not found")

    def cameras_of(name: str, gt_rows: Rows) -> np.ndarray:
        if scene_cameras is not None:
            if name not in scene_cameras:
                raise InputError(gt, f"scene {name} is not in the scene-cameras file", field="--scene-cameras")
            return np.array(sorted(set(scene_cameras[name])), np.int64)
        return np.unique(gt_rows.camera)

    if gt.is_file():
        if pred.is_dir():
            raise InputError(pred, "a results folder needs a split or scene folder as --gt, not a single file")
        name = _scene_name(gt)
        gt_rows = read_rows(gt, gt_frame_base)
        f = read_predictions(pred, frame_base, checks)
        cams = cameras_of(name, gt_rows)
        _drop_other_cameras(f, cams, "the ground truth does not have", checks)
        pairs = [_pair(name, cams, gt_rows, f)]
    else:
        merged = read_predictions(pred, frame_base, checks) if pred.is_file() else None
        pairs = []
        for name, gt_path in ground_truth_scenes(gt):
            gt_rows = read_rows(gt_path, gt_frame_base)
            cams = cameras_of(name, gt_rows)
            if merged is not None:
                pairs.append(_pair(name, cams, gt_rows, merged))
                continue
            path = pred / f"{name}.txt"
            if not path.is_file():
                checks.warn(path, f"{name}: no predictions; the scene scores 0 and counts in the mean")
                pairs.append(ScenePair(name, cams, gt_rows.select(np.isin(gt_rows.camera, cams)), Rows.empty(), None))
                continue
            f = read_predictions(path, frame_base, checks, allow_empty=True)
            _drop_other_cameras(f, cams, f"{name}'s ground truth does not have", checks)
            pairs.append(_pair(name, cams, gt_rows, f))
        if merged is not None:
            every = np.unique(np.concatenate([p.cameras for p in pairs]))
            _drop_other_cameras(merged, every, "belong to no evaluated scene", checks)
    if not any(len(p.pred) for p in pairs):
        raise InputError(pred, "no prediction rows for the evaluated scenes' cameras: nothing to score")
    for p in pairs:
        if not len(p.pred) and p.pred_file is not None:
            checks.warn(p.pred_file.path, f"{p.name}: no prediction rows for its cameras; the scene scores 0")
        _check_frame_base(p, checks)
    return pairs


def _pair(name: str, cams: np.ndarray, gt_rows: Rows, f: PredFile) -> ScenePair:
    return ScenePair(
        name, cams, gt_rows.select(np.isin(gt_rows.camera, cams)), f.rows.select(np.isin(f.rows.camera, cams)), f
    )


def report_tables(reports: list[SceneReport], combined: dict, boxes: bool, protocol) -> str:
    headers = ["scene", "HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr", "gt ids", "pred ids"]
    rows = []
    for r in reports:
        s = r.summary()
        rows.append([r.name, *(s[k] for k in headers[1:9]), s["gt_ids"], s["pred_ids"]])
    if len(reports) > 1:
        label = "mean of scenes" if protocol.name == "aic24" else "combined"
        rows.append([label, *(combined[k] for k in headers[1:9]), combined["gt_ids"], combined["pred_ids"]])
    out = f"World-plane HOTA ({protocol.describe()})\n" + format_table(headers, rows)
    if protocol.name == "aic24":
        out += "\n\nAIC24 headline: " + ", ".join(f"{k} {100 * combined[k]:.4f}%" for k in HEADLINE_FIELDS)
    if boxes:
        bh = ["scene", "camera", "HOTA", "DetA", "AssA", "IDF1", "IDR", "IDP", "CLR_Re", "CLR_Pr", "IDSW", "MOTA"]
        brows = []
        for r in reports:
            s = r.summary()
            for cam, c in s.get("cameras", {}).items():
                brows.append([r.name, cam, *(c[k] for k in bh[2:])])
            if "boxes" in s:
                brows.append([r.name, "all", *(s["boxes"][k] for k in bh[2:])])
        if len(reports) > 1 and "boxes" in combined:
            brows.append(["combined", "all", *(combined["boxes"][k] for k in bh[2:])])
        out += (
            "\n\nBox HOTA / IDF1 / CLEAR with global ids (IoU; CLR_Re, CLR_Pr = box recall and precision at "
            "IoU 0.5); 'all' = every camera under one id mapping, so cross-camera id errors count\n"
            + format_table(bh, brows)
        )
    return out


def run_eval(
    gt: str | Path,
    pred: str | Path,
    protocol: str = "aic24",
    tau: float | None = None,
    boxes: bool = False,
    json_out: str | Path | None = None,
    gt_frame_base: int = 0,
    frame_base: int = 0,
    scene_cameras: str | Path | None = None,
    strict: bool = False,
) -> tuple[dict, str]:
    """Evaluate and return (json-ready result, printable report)."""
    if tau is not None and not tau > 0:
        raise InputError(None, f"tau must be a positive distance in metres, got {tau}", field="--tau")
    if tau is not None and protocol == "aic24":
        raise InputError(None, "the official AIC24 protocol's distance is fixed (2 m); --tau needs --protocol mean")
    proto = make_protocol(protocol, tau)
    checks = Checks(strict)
    cams = load_scene_cameras(scene_cameras) if scene_cameras else None
    pairs = pair_inputs(Path(gt), Path(pred), gt_frame_base, frame_base, cams, checks)
    reports = [evaluate_scene(p.name, p.gt, p.pred, proto, boxes=boxes) for p in pairs]
    combined = combine(reports, proto)
    result = {
        **combined,
        "protocol": proto.name,
        "zero_distance_m": proto.zero_distance_m,
        "warnings": checks.warnings,
        "scenes": {r.name: r.summary() for r in reports},
    }
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2))
    return result, report_tables(reports, combined, boxes, proto)
