"""World-plane HOTA (the AIC24 Track 1 score, by protocol) and per-camera box HOTA / IDF1."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mcpt.evaluation.protocols import Aic24, MeanPositions, summarize_hota
from mcpt.evaluation.trackeval_bridge import group_by_frame, sequence_data, trackeval_classes
from mcpt.geometry import iou_xywh
from mcpt.scene.results import Rows

ID_FIELDS = ("IDF1", "IDR", "IDP")
CLEAR_FIELDS = ("CLR_Re", "CLR_Pr", "IDSW", "MOTA")  # box recall and precision at IoU 0.5, id switches
IDENTITY_CONFIG = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}  # IoU for an IDF1 / CLEAR match, as in MOTChallenge


def _frames(*frame_arrays: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([np.asarray(f, np.int64) for f in frame_arrays]))


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


def summarize_identity(res: dict) -> dict[str, float]:
    return {k: float(res[k]) for k in ID_FIELDS}


def summarize_boxes(r: dict) -> dict[str, float]:
    return {
        **summarize_hota(r["hota"]),
        **summarize_identity(r["identity"]),
        **{k: float(r["clear"][k]) for k in CLEAR_FIELDS},
    }


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
            out["cameras"] = {str(c): summarize_boxes(r) for c, r in sorted(self.cameras.items())}
        if self.all_cameras:
            out["boxes"] = summarize_boxes(self.all_cameras)
        return out


def evaluate_scene(
    name: str, gt: Rows, pred: Rows, protocol: Aic24 | MeanPositions | None = None, boxes: bool = False
) -> SceneReport:
    """World HOTA for one scene (and per-camera box HOTA/IDF1 with global ids when ``boxes``).

    ``gt`` and ``pred`` hold the scene's cameras only; ``protocol`` defaults to the official AIC24 one.
    """
    protocol = protocol or Aic24()
    hota_cls, identity_cls, clear_cls = trackeval_classes()
    world = hota_cls().eval_sequence(protocol.sequence(gt, pred))
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
                "clear": clear_cls(IDENTITY_CONFIG).eval_sequence(data),
            }

        for cam in np.unique(np.concatenate([gt.camera, pred.camera])).tolist():
            report.cameras[int(cam)] = score(box_sequence(gt.select(gt.camera == cam), pred.select(pred.camera == cam)))
        report.all_cameras = score(box_sequence(gt, pred))
    return report


def combine(reports: list[SceneReport], protocol: Aic24 | MeanPositions | None = None) -> dict:
    """The summary over scenes, as the protocol combines them (official: unweighted mean of scenes)."""
    protocol = protocol or Aic24()
    hota_cls, identity_cls, clear_cls = trackeval_classes()
    out: dict = protocol.combine({r.name: r.world for r in reports})
    for k in ("gt_ids", "pred_ids", "gt_rows", "pred_rows"):
        out[k] = int(sum(r.counts[k] for r in reports))
    seqs = {r.name: r.all_cameras for r in reports if r.all_cameras}
    if seqs:
        box_hota = hota_cls().combine_sequences({k: v["hota"] for k, v in seqs.items()})
        box_id = identity_cls(IDENTITY_CONFIG).combine_sequences({k: v["identity"] for k, v in seqs.items()})
        box_clear = clear_cls(IDENTITY_CONFIG).combine_sequences({k: v["clear"] for k, v in seqs.items()})
        out["boxes"] = summarize_boxes({"hota": box_hota, "identity": box_id, "clear": box_clear})
    return out
