"""Feed our own per-frame similarities to TrackEval's metric classes (HOTA, Identity).

TrackEval's datasets assume MOT-style files; its metrics only need per-timestep id arrays and
similarity matrices, which is all we build here. HOTA itself is never reimplemented.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcpt.errors import InputError


def trackeval_classes():
    """TrackEval's HOTA, Identity and CLEAR classes, imported quietly (it prints notes about optional datasets)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError:
        raise InputError(
            None, "TrackEval is not installed; run `make install` or `pip install --no-deps trackeval==1.3.0`"
        ) from None
    return HOTA, Identity, CLEAR


@dataclass
class FrameGroups:
    """Rows grouped by frame: for each frame, contiguous ids (0..n-1) and per-row payload."""

    frames: np.ndarray  # sorted unique frame ids
    ids: list[np.ndarray]
    payload: list[np.ndarray]
    num_ids: int
    num_dets: int


def group_by_frame(frame: np.ndarray, ids: np.ndarray, payload: np.ndarray, frames: np.ndarray) -> FrameGroups:
    """Split rows by frame over the given frame list; ids are remapped to 0..n-1."""
    uniq, inv = np.unique(ids, return_inverse=True)
    order = np.argsort(frame, kind="stable")
    f_sorted = frame[order]
    starts = np.searchsorted(f_sorted, frames, side="left")
    ends = np.searchsorted(f_sorted, frames, side="right")
    id_list = [inv[order[s:e]] for s, e in zip(starts, ends, strict=True)]
    pay_list = [payload[order[s:e]] for s, e in zip(starts, ends, strict=True)]
    return FrameGroups(frames, id_list, pay_list, len(uniq), int(frame.shape[0]))


def sequence_data(
    gt: FrameGroups, pred: FrameGroups, similarity: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> dict:
    """The dict TrackEval's ``eval_sequence`` takes, with ``similarity(gt_payload, pred_payload)``."""
    sims = [similarity(g, p) for g, p in zip(gt.payload, pred.payload, strict=True)]
    return {
        "num_gt_ids": gt.num_ids,
        "num_tracker_ids": pred.num_ids,
        "num_gt_dets": gt.num_dets,
        "num_tracker_dets": pred.num_dets,
        "gt_ids": gt.ids,
        "tracker_ids": pred.ids,
        "similarity_scores": sims,
        "num_timesteps": len(gt.ids),
    }
