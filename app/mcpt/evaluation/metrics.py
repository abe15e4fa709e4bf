"""World-plane HOTA (the AIC24 Track 1 score) and per-camera box HOTA / IDF1."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import cdist

from mcpt.evaluation.trackeval_bridge import group_by_frame, sequence_data, trackeval_metrics
from mcpt.geometry import iou_xywh
from mcpt.scene.results import Rows

HOTA_FIELDS = ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr")
ID_FIELDS = ("IDF1", "IDR", "IDP")
IDENTITY_CONFIG = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}  # IoU for an IDF1 match, as in MOTChallenge


def identity_positions(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (frame, identity): the mean world position over the cameras that have a row for it."""
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2))
    keys = np.stack([rows.frame, rows.obj], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    pos = np.stack([np.bincount(inv, rows.world[:, k], minlength=len(uniq)) for k in range(2)], axis=1)
    return uniq[:, 0], uniq[:, 1], pos / counts[:, None]


def distance_similarity(tau: float):
    def sim(g: np.ndarray, p: np.ndarray) -> np.ndarray:
        if not len(g) or not len(p):
            return np.zeros((len(g), len(p)))
        return np.maximum(0.0, 1.0 - cdist(g, p) / tau)

    return sim


def _frames(*frame_arrays: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([np.asarray(f, np.int64) for f in frame_arrays]))


def world_sequence(gt: Rows, pred: Rows, tau: float) -> dict:
    gf, gi, gp = identity_positions(gt)
    pf, pi, pp = identity_positions(pred)
    frames = _frames(gf, pf)
    return sequence_data(
        group_by_frame(gf, gi, gp, frames), group_by_frame(pf, pi, pp, frames), distance_similarity(tau)
    )


def _camera_frame_key(rows: Rows) -> np.ndarray:
    return rows.camera * np.int64(1 << 32) + rows.frame


def box_sequence(gt: Rows, pred: Rows) -> dict:
    """Box tracking over every (camera, frame) as one sequence with global ids.

    For one camera this is ordinary per-camera HOTA/IDF1; over all cameras a single id mapping
    must hold across views, so a person labelled differently in two cameras is penalised
    (the MTMC IDF1 of earlier AI City tracks).
    """
    gk, pk = _camera_frame_key(gt), _camera_frame_key(pred)
    frames = _frames(gk, pk)
    return sequence_data(
        group_by_frame(gk, gt.obj, gt.box, frames), group_by_frame(pk, pred.obj, pred.box, frames), iou_xywh
    )


def summarize_hota(res: dict) -> dict[str, float]:
    """Scalar summary: each HOTA field averaged over TrackEval's alpha thresholds."""
    return {k: float(np.mean(res[k])) for k in HOTA_FIELDS}


def summarize_identity(res: dict) -> dict[str, float]:
    return {k: float(res[k]) for k in ID_FIELDS}


@dataclass
class SceneReport:
    name: str
    world: dict  # raw TrackEval HOTA result
    counts: dict[str, int]
    cameras: dict[int, dict] = field(default_factory=dict)  # camera -> {"hota": raw, "identity": raw}
    all_cameras: dict | None = None  # every camera as one sequence with global ids

    def summary(self) -> dict:
        out: dict = {**summarize_hota(self.world), **self.counts}
        if self.cameras:
            out["cameras"] = {
                str(c): {**summarize_hota(r["hota"]), **summarize_identity(r["identity"])}
                for c, r in sorted(self.cameras.items())
            }
        if self.all_cameras:
            out["boxes"] = {
                **summarize_hota(self.all_cameras["hota"]),
                **summarize_identity(self.all_cameras["identity"]),
            }
        return out


def evaluate_scene(name: str, gt: Rows, pred: Rows, tau: float = 1.0, boxes: bool = False) -> SceneReport:
    """World HOTA for one scene (and per-camera box HOTA/IDF1 with global ids when ``boxes``)."""
    hota_cls, identity_cls = trackeval_metrics()
    world = hota_cls().eval_sequence(world_sequence(gt, pred, tau))
    counts = {
        "gt_ids": len(np.unique(gt.obj)),
        "pred_ids": len(np.unique(pred.obj)),
        "gt_rows": len(gt),
        "pred_rows": len(pred),
    }
    report = SceneReport(name, world, counts)
    if boxes:

        def score(data: dict) -> dict:
            return {
                "hota": hota_cls().eval_sequence(data),
                "identity": identity_cls(IDENTITY_CONFIG).eval_sequence(data),
            }

        for cam in np.unique(np.concatenate([gt.camera, pred.camera])).tolist():
            report.cameras[int(cam)] = score(box_sequence(gt.select(gt.camera == cam), pred.select(pred.camera == cam)))
        report.all_cameras = score(box_sequence(gt, pred))
    return report


def combine(reports: list[SceneReport]) -> dict:
    """Combined summary over scenes, as TrackEval combines sequences (detection-weighted)."""
    hota_cls, identity_cls = trackeval_metrics()
    world = hota_cls().combine_sequences({r.name: r.world for r in reports})
    out: dict = summarize_hota(world)
    for k in ("gt_ids", "pred_ids", "gt_rows", "pred_rows"):
        out[k] = int(sum(r.counts[k] for r in reports))
    seqs = {r.name: r.all_cameras for r in reports if r.all_cameras}
    if seqs:
        box_hota = hota_cls().combine_sequences({k: v["hota"] for k, v in seqs.items()})
        box_id = identity_cls(IDENTITY_CONFIG).combine_sequences({k: v["identity"] for k, v in seqs.items()})
        out["boxes"] = {**summarize_hota(box_hota), **summarize_identity(box_id)}
    return out
