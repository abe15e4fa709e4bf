"""``mcpt eval``: pair ground truth with predictions (files, result folders or splits) and report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt.evaluation.metrics import SceneReport, combine, evaluate_scene
from mcpt.scene.layout import GROUND_TRUTH_NAME, discover_scenes
from mcpt.scene.results import Rows, read_rows
from mcpt.table import format_table

log = logging.getLogger(__name__)


def _scene_name(path: Path) -> str:
    if path.parent.name.startswith("scene_"):
        return path.parent.name
    return path.stem


def pair_inputs(gt: Path, pred: Path, gt_frame_base: int = 0, frame_base: int = 0) -> list[tuple[str, Rows, Rows]]:
    """(scene, ground truth, predictions) for every scene the inputs describe."""
    if not gt.exists():
        raise InputError(gt, "ground truth not found")
    if not pred.exists():
        raise InputError(pred, "predictions not found")
    if gt.is_file():
        if pred.is_dir():
            raise InputError(pred, "a results folder needs a split or scene folder as --gt, not a single file")
        return [(_scene_name(gt), read_rows(gt, gt_frame_base), read_rows(pred, frame_base))]
    scenes = [s for s in discover_scenes(gt) if s.ground_truth is not None]
    if not scenes:
        raise InputError(gt, f"no scene under it has a {GROUND_TRUTH_NAME}")
    merged = read_rows(pred, frame_base) if pred.is_file() else None
    pairs = []
    claimed: set[int] = set()
    for scene in scenes:
        gt_rows = read_rows(scene.ground_truth, gt_frame_base)
        if merged is not None:
            cams = np.array(scene.camera_ids + np.unique(gt_rows.camera).tolist())
            claimed.update(cams.tolist())
            pred_rows = merged.select(np.isin(merged.camera, cams))
        else:
            f = pred / f"{scene.name}.txt"
            if f.is_file():
                pred_rows = read_rows(f, frame_base)
            else:
                log.warning("%s: no predictions (%s missing); scored as empty", scene.name, f)
                pred_rows = Rows.empty()
        pairs.append((scene.name, gt_rows, pred_rows))
    if merged is not None:
        stray = np.setdiff1d(np.unique(merged.camera), np.array(sorted(claimed)))
        if len(stray):
            log.warning("%s: rows for cameras %s belong to no evaluated scene; ignored", pred, stray.tolist())
    return pairs


def report_tables(reports: list[SceneReport], combined: dict, boxes: bool) -> str:
    headers = ["scene", "HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr", "gt ids", "pred ids"]
    rows = []
    for r in reports:
        s = r.summary()
        rows.append([r.name, *(s[k] for k in headers[1:9]), s["gt_ids"], s["pred_ids"]])
    if len(reports) > 1:
        rows.append(["combined", *(combined[k] for k in headers[1:9]), combined["gt_ids"], combined["pred_ids"]])
    out = "World-plane HOTA (positions, tau as given)\n" + format_table(headers, rows)
    if boxes:
        bh = ["scene", "camera", "HOTA", "DetA", "AssA", "IDF1", "IDR", "IDP"]
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
            "\n\nBox HOTA / IDF1 with global ids (IoU); 'all' = every camera under one id mapping, "
            "so cross-camera id errors count\n" + format_table(bh, brows)
        )
    return out


def run_eval(
    gt: str | Path,
    pred: str | Path,
    tau: float = 1.0,
    boxes: bool = False,
    json_out: str | Path | None = None,
    gt_frame_base: int = 0,
    frame_base: int = 0,
) -> tuple[dict, str]:
    """Evaluate and return (json-ready result, printable report)."""
    if not tau > 0:
        raise InputError(None, f"tau must be a positive distance in metres, got {tau}", field="--tau")
    pairs = pair_inputs(Path(gt), Path(pred), gt_frame_base, frame_base)
    reports = [evaluate_scene(name, g, p, tau=tau, boxes=boxes) for name, g, p in pairs]
    combined = combine(reports)
    result = {**combined, "tau": tau, "scenes": {r.name: r.summary() for r in reports}}
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2))
    return result, report_tables(reports, combined, boxes)
