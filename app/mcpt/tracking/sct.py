"""Single-camera tracker in the reference method's style (BoT-SORT as modified for AIC24).

One instance per camera. State is kept as arrays (one row per track) so every step is a few
vectorised numpy operations. First association: high-score boxes against tracked and lost
tracks on 0.3 x normalised centre distance + 0.7 x cosine distance / 2, with gates; second:
low-score boxes against still-unmatched tracked tracks on IoU; then unconfirmed tracks; then
births from boxes above the new-track threshold. Lost tracks die after ``max_time_lost_s``.
The tracker counts processing steps; ``fps`` turns the configured seconds into steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from mcpt.config import SCTConfig, sct_thresholds_resolved
from mcpt.geometry import iou_xywh
from mcpt.matching import cosine_half_distance, linear_assignment, pairwise_distance, unit_rows
from mcpt.timebase import DEFAULT_FPS, to_steps
from mcpt.tracking.kalman import BoxKalman


class LocalTrackState(IntEnum):
    """State of one single-camera track (stored as int8 in ``SingleCameraTracker.status``)."""

    TENTATIVE = 0  # born from one box, not yet matched a second time
    TRACKED = 1
    LOST = 2  # unmatched for at most ``max_time_lost_s``, then dropped


# plain ints for the array code (numpy compares an array with an IntEnum member ~5x slower than with an int)
TENTATIVE, TRACKED, LOST = (int(state) for state in LocalTrackState)


def xywh_to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.column_stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 2], b[:, 3]])


def cxcywh_to_xywh(b: np.ndarray) -> np.ndarray:
    return np.column_stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]])


@dataclass
class SCTOutput:
    """Per input detection: its local track id (-1: not part of a confirmed track) and filtered box."""

    track_id: np.ndarray  # (M,) int64
    box: np.ndarray  # (M, 4) x y w h, Kalman-filtered for tracked detections


class SingleCameraTracker:
    def __init__(
        self,
        cfg: SCTConfig,
        image_size: tuple[int, int] = (1920, 1080),
        use_appearance: bool = True,
        fps: float = DEFAULT_FPS,
        detect_every: int = 1,
    ):
        self.cfg = cfg = sct_thresholds_resolved(cfg)
        # with a detection interval the time a track may stay unmatched is counted in detections
        self.max_lost_steps = to_steps(cfg.max_time_lost_s, fps / detect_every) * detect_every
        self.diag = float(np.hypot(*image_size))
        self.use_appearance = use_appearance
        self.kf = BoxKalman()
        self.next_id = 1
        self.frames_seen = 0
        self.tid = np.zeros(0, np.int64)
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 8, 8))
        self.feat: np.ndarray | None = None
        self.last_box = np.zeros((0, 4))
        self.status = np.zeros(0, np.int8)
        self.confirmed = np.zeros(0, bool)
        self.last_step = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.tid.shape[0])

    # -- costs -----------------------------------------------------------------------------------
    def _fused_cost(self, tracks: np.ndarray, boxes: np.ndarray, feats: np.ndarray) -> np.ndarray:
        c = self.cfg
        if not self.use_appearance:
            pred = cxcywh_to_xywh(self.mean[tracks, :4])
            return 1.0 - iou_xywh(pred, boxes)
        tc = self.last_box[tracks, :2] + self.last_box[tracks, 2:] / 2
        dc = boxes[:, :2] + boxes[:, 2:] / 2
        prox = pairwise_distance(tc, dc) / self.diag
        app = cosine_half_distance(self.feat[tracks], feats)
        cost = c.proximity_weight * prox + c.appearance_weight * app
        gated = (prox > c.proximity_thresh) | (app > c.appearance_thresh)
        if c.min_iou > 0:
            gated |= iou_xywh(cxcywh_to_xywh(self.mean[tracks, :4]), boxes) < c.min_iou
        cost[gated] = 1.0
        return cost

    # -- state changes ---------------------------------------------------------------------------
    def _update_tracks(self, rows: np.ndarray, boxes: np.ndarray, feats: np.ndarray | None, step: int) -> None:
        if not len(rows):
            return
        m, cv = self.kf.update(self.mean[rows], self.cov[rows], xywh_to_cxcywh(boxes))
        self.mean[rows], self.cov[rows] = m, cv
        self.last_box[rows] = boxes
        if feats is not None and self.feat is not None:
            a = self.cfg.feature_ema
            self.feat[rows] = unit_rows(a * self.feat[rows] + (1 - a) * feats)
        self.status[rows] = TRACKED
        self.last_step[rows] = step

    def _birth(self, boxes: np.ndarray, feats: np.ndarray, step: int, confirmed: bool) -> np.ndarray:
        n = len(boxes)
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        mean, cov = self.kf.initiate(xywh_to_cxcywh(boxes))
        self.tid = np.concatenate([self.tid, ids])
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        self.feat = feats.copy() if self.feat is None else np.concatenate([self.feat, feats])
        self.last_box = np.concatenate([self.last_box, boxes])
        self.status = np.concatenate([self.status, np.full(n, TRACKED if confirmed else TENTATIVE, np.int8)])
        self.confirmed = np.concatenate([self.confirmed, np.full(n, confirmed)])
        self.last_step = np.concatenate([self.last_step, np.full(n, step, np.int64)])
        return ids

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("tid", "mean", "cov", "last_box", "status", "confirmed", "last_step"):
            setattr(self, name, getattr(self, name)[keep])
        if self.feat is not None:
            self.feat = self.feat[keep]

    # -- one step -------------------------------------------------------------------------------
    def coast(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A step without detections (a detection interval): the confirmed tracks seen at the last
        detection move on by their motion model. Returns (track ids, predicted boxes x y w h, features)."""
        self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        live = np.flatnonzero(self.confirmed & (self.status == TRACKED))
        feats = self.feat[live] if self.feat is not None else np.zeros((len(live), 1), np.float32)
        return self.tid[live], cxcywh_to_xywh(self.mean[live, :4]), feats

    def update(self, step: int, boxes: np.ndarray, scores: np.ndarray, feats: np.ndarray) -> SCTOutput:
        c = self.cfg
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        feats = np.asarray(feats, np.float32)
        if feats.ndim != 2:
            feats = feats.reshape(len(boxes), -1) if len(boxes) else np.zeros((0, 1), np.float32)
        first_frame = self.frames_seen == 0
        self.frames_seen += 1
        out_id = np.full(len(boxes), -1, np.int64)
        out_box = boxes.copy()
        if self.feat is None and feats.shape[1]:
            self.feat = np.zeros((0, feats.shape[1]), np.float32)

        self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        high = np.flatnonzero(scores >= c.track_high_thresh)
        low = np.flatnonzero((scores >= c.track_low_thresh) & (scores < c.track_high_thresh))
        pool = np.flatnonzero(self.confirmed & ((self.status == TRACKED) | (self.status == LOST)))
        unconfirmed = np.flatnonzero(~self.confirmed)
        matched_rows: list[np.ndarray] = []
        matched_dets: list[np.ndarray] = []

        # 1. confirmed (tracked + lost) tracks vs confident boxes
        m1, un_pool, un_high = linear_assignment(self._fused_cost(pool, boxes[high], feats[high]), c.match_thresh)
        rows, dets = pool[m1[:, 0]], high[m1[:, 1]]
        self._update_tracks(rows, boxes[dets], feats[dets], step)
        matched_rows.append(rows)
        matched_dets.append(dets)

        # 2. still-unmatched tracked tracks vs low-score boxes, on IoU with the predicted box
        left = pool[un_pool]
        left = left[self.status[left] == TRACKED]
        if len(left) and len(low):
            iou = iou_xywh(cxcywh_to_xywh(self.mean[left, :4]), boxes[low])
            m2, un_left, _ = linear_assignment(1.0 - iou, c.second_match_thresh)
            rows, dets = left[m2[:, 0]], low[m2[:, 1]]
            self._update_tracks(rows, boxes[dets], None, step)
            matched_rows.append(rows)
            matched_dets.append(dets)
            left = left[un_left]
        self.status[left] = LOST

        # 3. unconfirmed tracks vs the remaining confident boxes
        rest = high[un_high]
        m3, un_unc, un_rest = linear_assignment(
            self._fused_cost(unconfirmed, boxes[rest], feats[rest]), c.unconfirmed_match_thresh
        )
        rows, dets = unconfirmed[m3[:, 0]], rest[m3[:, 1]]
        self._update_tracks(rows, boxes[dets], feats[dets], step)
        self.confirmed[rows] = True
        matched_rows.append(rows)
        matched_dets.append(dets)
        dead = np.zeros(len(self), bool)
        dead[unconfirmed[un_unc]] = True

        # 4. births
        rows_all = np.concatenate(matched_rows)
        dets_all = np.concatenate(matched_dets)
        out_id[dets_all] = self.tid[rows_all]
        out_box[dets_all] = cxcywh_to_xywh(self.mean[rows_all, :4])
        born = rest[un_rest]
        born = born[scores[born] >= c.new_track_thresh]

        # 5. deaths: lost too long, unconfirmed unmatched
        dead |= (self.status == LOST) & (step - self.last_step > self.max_lost_steps)
        self._keep(~dead)
        if len(born):
            ids = self._birth(boxes[born], feats[born], step, confirmed=first_frame)
            if first_frame:
                out_id[born] = ids
        return SCTOutput(out_id, out_box)
