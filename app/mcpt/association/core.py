"""The online associator: Observations of one time step in, global identities and positions out.

``Associator.update`` reads as the list of its steps:

1. match active: observations, camera by camera, to active clusters on floor distance +
   appearance (mean cosine distance to the cluster's feature bank), one observation per camera per
   cluster; the cluster a local track (camera, local id) joined before is preferred but can be
   contested;
2. match lost: to lost clusters on appearance with a speed gate (off by default: re-link does it);
3. match tentative: to unconfirmed clusters;
4. start clusters: group what is left across cameras into new, unconfirmed clusters;
5. attach unfit: observations unfit for clustering (low score, squat boxes) join the nearest identity;
6. update clusters: fuse each cluster's floor position (robust inverse-variance mean of its
   cameras, constant-velocity Kalman filter), add one clean feature to its bank, confirm after
   ``confirm_s`` of observations;
7. refine: every ``period_s``, split / merge / re-link clusters (refine.py);
8. output: every observation of a confirmed cluster with the cluster's global id and position.

Global ids are given at confirmation and never reused; a row once output is never changed.
The core counts processing steps (``batch.step``); the configuration's durations are turned into
steps once, at the processing rate given to the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from mcpt.association.bindings import LocalTrackBindings
from mcpt.association.fusion import fuse_positions
from mcpt.association.grouping import group_observations
from mcpt.association.kalman import PointKalman
from mcpt.association.offsets import CameraOffsets
from mcpt.association.refine import refine
from mcpt.association.steps import StepCounts
from mcpt.association.store import LOST, TENTATIVE, TRACKED, ClusterStore
from mcpt.config import AssociationConfig, thresholds_resolved
from mcpt.matching import linear_assignment, pairwise_distance
from mcpt.observation import ObservationBatch
from mcpt.pose.quality import pose_fitness
from mcpt.timebase import DEFAULT_FPS

FEATURE_MAX_OVERLAP = 0.2  # a box covered more than this by others gives no bank feature


class Stage(IntEnum):
    """Which step of ``Associator.update`` assigned an observation (diagnostics)."""

    NONE = 0
    BINDING = 1  # active cluster, the one its local track joined before
    ACTIVE = 2  # another active cluster
    LOST = 3
    TENTATIVE = 4
    NEW = 5
    FALLBACK = 6  # unfit for clustering, attached by position


@dataclass
class StepResult:
    step: int
    global_id: np.ndarray  # (N,) int64, -1 where the observation is not output
    position: np.ndarray  # (N, 2) floor position written for the row (NaN where not output)
    cluster: np.ndarray  # (N,) internal cluster id (-1 unassigned), for diagnostics
    stage: np.ndarray  # (N,) Stage: which step assigned the row, for diagnostics


@dataclass
class AssociatorStats:
    steps: int = 0
    observations: int = 0
    output_rows: int = 0
    confirmed: int = 0
    splits: int = 0
    merges: int = 0
    relinks: int = 0
    lost_revived: int = 0
    still_rows: int = 0  # rows held back: observations of identities that never moved (mannequins)
    still_spots: int = 0  # floor spots where a still object was found


@dataclass(frozen=True)
class StepInput:
    """One step's observations as the stages use them (derived once from the batch)."""

    t: int  # processing step
    cams: np.ndarray  # (N,) int64
    locals_: np.ndarray  # (N,) local track ids
    world: np.ndarray  # (N, 2)
    std: np.ndarray  # (N,) floor position uncertainty, metres (the default where unknown)
    has_world: np.ndarray  # (N,) a usable floor position
    feats: np.ndarray  # (N, D) float32
    boxes: np.ndarray  # (N, 4)
    score: np.ndarray  # (N,)
    quality: np.ndarray  # (N,) fit for clustering: confident, upright, with a floor position (and a clear pose)
    clear_view: np.ndarray  # (N,) a look fit for a feature bank as far as the pose tells (True without pose)
    bound: np.ndarray  # (N,) slot of the cluster the row's local track joined before (-1 none)


class Assignment:
    """Per observation, its cluster slot (-1 none) and the stage that assigned it."""

    def __init__(self, n: int) -> None:
        self.slot = np.full(n, -1, np.int64)
        self.stage = np.zeros(n, np.int8)

    def mark(self, stage: Stage) -> None:
        """Credit ``stage`` with the rows assigned since the last mark."""
        self.stage[(self.slot >= 0) & (self.stage == Stage.NONE)] = stage

    def open_rows(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero((self.slot < 0) & mask)


def _max_overlap(rows: np.ndarray, cameras: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the largest fraction of its box covered by another box of the same camera."""
    if not len(rows):
        return np.zeros(0)
    # every camera's boxes in one padded block (empty places are zero-size boxes far away)
    present, cam_of_box = np.unique(cameras, return_inverse=True)
    order = np.argsort(cam_of_box, kind="stable")
    counts = np.bincount(cam_of_box, minlength=len(present))
    place = np.empty(len(boxes), np.int64)
    place[order] = np.arange(len(boxes)) - np.repeat(np.cumsum(counts) - counts, counts)
    block = np.full((len(present), counts.max(), 4), -1e9)
    block[:, :, 2:] = 0.0
    block[cam_of_box, place] = boxes
    b, c = boxes[rows], block[cam_of_box[rows]]
    a1, a2 = b[:, None, :2], b[:, None, :2] + b[:, None, 2:]
    c1, c2 = c[..., :2], c[..., :2] + c[..., 2:]
    wh = np.clip(np.minimum(a2, c2) - np.maximum(a1, c1), 0, None)
    frac = wh[..., 0] * wh[..., 1] / np.maximum(b[:, 2] * b[:, 3], 1e-9)[:, None]
    frac[np.arange(len(rows)), place[rows]] = 0.0
    return frac.max(axis=1)


class Associator:
    def __init__(self, cfg: AssociationConfig, fps: float = DEFAULT_FPS) -> None:
        self.cfg = cfg = thresholds_resolved(cfg)
        self.fps = fps
        self.steps = StepCounts.at(cfg, fps)
        self.kf = PointKalman(1.0 / fps, cfg.position.accel_std, cfg.position.meas_std)
        self.store: ClusterStore | None = None
        self.bindings = LocalTrackBindings(self.steps.bind_ttl)
        self.next_out_id = 1
        self.stats = AssociatorStats()
        self.camera_index: dict[int, int] = {}
        self.still_spots = np.zeros((0, 2))  # where still objects stand: a new identity there is one too
        self.offsets = CameraOffsets(cfg.position.offset_rate, cfg.position.offset_max_m)

    # -- one step --------------------------------------------------------------------------------
    def update(self, batch: ObservationBatch) -> StepResult:
        inp = self._step_input(batch)
        a = Assignment(len(batch))
        self._match_active(inp, a)
        self._match_lost(inp, a)
        self._match_tentative(inp, a)
        self._start_clusters(inp, a)
        self._attach_unfit(inp, a)
        self._update_clusters(inp, a)
        self._refine(inp, a)
        self.bindings.bind(self.store, inp.cams, inp.locals_, a.slot, inp.t)
        self._expire(inp.t)
        return self._output(inp, a)

    # -- the stages, in order --------------------------------------------------------------------
    def _step_input(self, batch: ObservationBatch) -> StepInput:
        cfg, t, n = self.cfg, batch.step, len(batch)
        self.stats.steps += 1
        self.stats.observations += n
        dim = batch.embedding.shape[1] if batch.embedding.ndim == 2 and batch.embedding.shape[1] else 1
        s = self._ensure_store(dim)
        self._predict(t)
        cams = batch.camera_id.astype(np.int64)
        world = batch.world_xy.astype(np.float64)
        if cfg.position.self_calibrate:
            world = self.offsets.correct(cams, world)
        boxes = batch.bbox.astype(np.float64)
        std = batch.world_std if batch.world_std is not None else np.full(n, np.nan)
        std = np.where(np.isfinite(std), std, cfg.position.meas_std)
        has_world = np.all(np.isfinite(world), axis=1) & (std <= cfg.position.max_reliable_std)
        hw = boxes[:, 3] / np.maximum(boxes[:, 2], 1e-9)
        cc = cfg.clustering
        quality = (batch.score >= cc.min_score) & (hw >= cc.min_height_width_ratio)
        if cfg.use_world:
            quality &= has_world
        clear_view = np.ones(n, bool)
        if batch.keypoints is not None and n:
            fit, clear_view = pose_fitness(batch.keypoints, boxes, cams, cfg.pose)
            quality &= fit
        return StepInput(
            t=t,
            cams=cams,
            locals_=batch.local_track_id,
            world=world,
            std=std,
            has_world=has_world,
            feats=batch.embedding.astype(np.float32) if n else np.zeros((0, s.dim), np.float32),
            boxes=boxes,
            score=batch.score,
            quality=quality,
            clear_view=clear_view,
            bound=self.bindings.bound_slots(s, batch.local_track_id, cams, t, self.steps.id_pool),
        )

    def _match_active(self, inp: StepInput, a: Assignment) -> None:
        """Observations -> active clusters (tracked, or lost only briefly), camera by camera."""
        s, tc, cfg, t = self.store, self.cfg.tracker, self.cfg, inp.t
        recent = s.slots_in(LOST)
        active = np.concatenate([s.slots_in(TRACKED), recent[t - s.last[recent] <= self.steps.id_pool]])
        every = self.steps.appearance_only_period
        appearance_only = every > 0 and t % every == 0 and cfg.use_appearance
        # appearance-only steps keep the loose binding distance as a sanity gate; without one (the
        # reference: bind_gate_m 0) they match on appearance wherever the person is
        loose = tc.bind_gate_m if tc.bind_gate_m > 0 else np.inf
        gate, weight = (loose, 0.0) if appearance_only else (tc.euc_thresh, tc.distance_weight)
        self._assign_per_camera(
            np.flatnonzero(inp.quality | (inp.bound >= 0)),
            active,
            inp.cams,
            a.slot,
            lambda r, sl: self._sparse_cost(inp, r, sl, tc.emb_thresh, gate, weight),
        )
        a.mark(Stage.BINDING)
        a.stage[(a.stage == Stage.BINDING) & ~(inp.bound == a.slot)] = Stage.ACTIVE

    def _match_lost(self, inp: StepInput, a: Assignment) -> None:
        """-> lost clusters, on appearance, where the time lost allows the distance."""
        s, tc = self.store, self.cfg.tracker
        lost = s.slots_in(LOST)
        lost = lost[inp.t - s.last[lost] > self.steps.id_pool]
        if self.cfg.use_appearance and tc.lost_emb_thresh > 0:
            self._assign_per_camera(
                a.open_rows(inp.quality),
                lost,
                inp.cams,
                a.slot,
                lambda r, sl: self._lost_cost(inp.feats[r], inp.world[r], sl, inp.t),
            )
        self.stats.lost_revived += len(np.unique(a.slot[(a.slot >= 0) & (a.stage == Stage.NONE)]))
        a.mark(Stage.LOST)

    def _match_tentative(self, inp: StepInput, a: Assignment) -> None:
        tc = self.cfg.tracker
        self._assign_per_camera(
            a.open_rows(inp.quality),
            self.store.slots_in(TENTATIVE),
            inp.cams,
            a.slot,
            lambda r, sl: self._sparse_cost(inp, r, sl, tc.emb_thresh, tc.euc_thresh, tc.distance_weight),
        )
        a.mark(Stage.TENTATIVE)

    def _start_clusters(self, inp: StepInput, a: Assignment) -> None:
        """What is left -> new clusters, grouped across cameras (one observation per camera)."""
        s, cfg, cc = self.store, self.cfg, self.cfg.clustering
        rows = a.open_rows(inp.quality)
        groups = group_observations(
            inp.cams[rows],
            inp.world[rows],
            inp.feats[rows],
            cc.emb_thresh,
            cc.euc_thresh,
            cc.appearance_ratio,
            cfg.use_world,
            cfg.use_appearance,
        )
        if groups:
            new_slots = s.new(len(groups), inp.t)
            pos = np.zeros((len(groups), 2))
            for k, (g, slot) in enumerate(zip(groups, new_slots.tolist(), strict=True)):
                a.slot[rows[g]] = slot
                pts = inp.world[rows[g]][inp.has_world[rows[g]]]
                if len(pts):
                    pos[k] = np.median(pts, axis=0)
            s.mean[new_slots], s.cov[new_slots] = self.kf.initiate(pos)
            s.pred_frame[new_slots] = inp.t
        a.mark(Stage.NEW)

    def _attach_unfit(self, inp: StepInput, a: Assignment) -> None:
        """Observations unfit for clustering -> the nearest live identity by position."""
        if self.cfg.use_world:
            live = self.store.slots_in(TRACKED, TENTATIVE)
            self._assign_per_camera(
                a.open_rows(inp.has_world), live, inp.cams, a.slot, lambda r, sl: self._distance_cost(inp.world[r], sl)
            )
        a.mark(Stage.FALLBACK)

    def _update_clusters(self, inp: StepInput, a: Assignment) -> None:
        """Fused positions, bank features, hits, confirmation; clusters not seen become lost (or go)."""
        s, cfg, t, assign = self.store, self.cfg, inp.t, a.slot
        ok = assign >= 0
        slots_seen, group = np.unique(assign[ok], return_inverse=True)
        rows = np.flatnonzero(ok)
        pw = inp.has_world[rows]
        meas, meas_var = fuse_positions(
            group[pw],
            inp.world[rows[pw]],
            np.hypot(inp.std[rows[pw]], cfg.position.camera_bias_std),
            s.mean[slots_seen, :2],
            s.hits[slots_seen] > 0,
            cfg.position.outlier_m,
        )
        if cfg.position.self_calibrate:
            self._learn_offsets(inp, rows[pw], group[pw], meas, slots_seen)
        if cfg.use_appearance:
            self._add_bank_features(inp, rows, group, slots_seen)
        has = np.isfinite(meas[:, 0])
        # a cluster back from lost restarts its motion model where it is seen now
        restart = has & (s.state[slots_seen] == LOST)
        if restart.any():
            sl = slots_seen[restart]
            s.mean[sl], s.cov[sl] = self.kf.initiate(meas[restart])
            s.pred_frame[sl] = t
        upd = has & ~restart
        if upd.any():
            sl = slots_seen[upd]
            s.mean[sl], s.cov[sl] = self.kf.update(s.mean[sl], s.cov[sl], meas[upd], meas_var[upd])
        self._track_movement(slots_seen[has])
        s.hits[slots_seen] += 1
        s.misses[slots_seen] = 0
        s.last[slots_seen] = t
        s.state[slots_seen[s.state[slots_seen] == LOST]] = TRACKED
        self._confirm(slots_seen[(s.state[slots_seen] == TENTATIVE) & (s.hits[slots_seen] >= self.steps.confirm)])
        unseen = np.setdiff1d(s.slots_in(TENTATIVE, TRACKED), slots_seen)
        s.state[unseen[s.state[unseen] == TRACKED]] = LOST
        tent = unseen[s.state[unseen] == TENTATIVE]
        s.misses[tent] += 1
        s.free(tent[s.misses[tent] > self.steps.tentative_ttl])
        s.record_seen(t, assign[ok], self._camera_bits(inp.cams[ok]))

    def _refine(self, inp: StepInput, a: Assignment) -> None:
        period = self.steps.refine_period
        if not (self.cfg.refine.enabled and period > 0 and inp.t % period == 0):
            return
        counts = refine(
            self.store, self.bindings, self.cfg, self.steps, self.fps, inp.t, a.slot, inp.cams, inp.feats, inp.locals_
        )
        self.stats.splits += counts.splits
        self.stats.merges += counts.merges
        self.stats.relinks += counts.relinks
        # a re-linked or merged young cluster may have made its new owner confirmable
        s = self.store
        tent = s.slots_in(TENTATIVE)
        self._confirm(tent[s.hits[tent] >= self.steps.confirm])

    def _output(self, inp: StepInput, a: Assignment) -> StepResult:
        """Every observation of a confirmed cluster, with its global id and position."""
        s, n, assign = self.store, len(a.slot), a.slot
        gid = np.full(n, -1, np.int64)
        position = np.full((n, 2), np.nan)
        cid = np.full(n, -1, np.int64)
        ok = assign >= 0
        cid[ok] = s.cid[assign[ok]]
        out = ok.copy()
        out[ok] = s.out_id[assign[ok]] >= 0
        still = np.zeros(n, bool)
        still[out] = self._still(assign[out], inp.t)
        out &= ~still
        self.stats.still_rows += int(still.sum())
        gid[out] = s.out_id[assign[out]]
        position[out] = s.mean[assign[out], :2]
        if not self.cfg.position.fuse:
            own = out & inp.has_world
            position[own] = inp.world[own]
        self.stats.output_rows += int(out.sum())
        a.stage[assign < 0] = Stage.NONE
        return StepResult(inp.t, gid, position, cid, a.stage)

    # -- helpers ---------------------------------------------------------------------------------
    def _learn_offsets(self, inp: StepInput, rows: np.ndarray, group: np.ndarray, meas: np.ndarray, slots) -> None:
        """Confirmed identities seen by two or more cameras: each camera's point against their weighted
        mean (by precision: a far view, whose calibration error is largest, moves the offsets least)."""
        ok = (self.store.out_id[slots[group]] >= 0) & np.isfinite(meas[group, 0])
        ok &= np.linalg.norm(inp.world[rows] - meas[group], axis=1) <= self.cfg.position.outlier_m
        rows, group = rows[ok], group[ok]
        per_cluster = np.bincount(group, minlength=len(slots))
        multi = per_cluster[group] >= 2
        if not multi.any():
            return
        rows, group = rows[multi], group[multi]
        pts = inp.world[rows]
        w = 1.0 / np.maximum(inp.std[rows], 0.05) ** 2
        w /= w.mean()
        sums = np.zeros((len(slots), 2))
        np.add.at(sums, group, w[:, None] * pts)
        weight = np.bincount(group, weights=w, minlength=len(slots))
        centre = sums / np.maximum(weight, 1e-12)[:, None]
        # weighted residuals of one identity sum to zero: the offsets of cameras seeing it do not drift
        self.offsets.learn(inp.cams[rows], w[:, None] * (pts - centre[group]))

    def camera_offsets(self) -> list[tuple[int, float, float, int]]:
        """(camera, dx, dy in metres, observations learnt from): the floor offsets taken off each camera."""
        return self.offsets.table()

    def _track_movement(self, slots: np.ndarray) -> None:
        """Remember where each cluster was first placed and whether it ever went far from there."""
        s = self.store
        fresh = slots[np.isnan(s.origin[slots, 0])]
        s.origin[fresh] = s.mean[fresh, :2]
        d = np.linalg.norm(s.mean[slots, :2] - s.origin[slots], axis=1)
        s.moved[slots] |= d > self.cfg.tracker.static_move_m

    def _still(self, slots: np.ndarray, t: int) -> np.ndarray:
        """Per slot: a still object (never moved, and old enough or standing where one was found)."""
        after = self.steps.static_after
        if after <= 0 or not len(slots):
            return np.zeros(len(slots), bool)
        s, reach = self.store, self.cfg.tracker.static_move_m
        unmoved = ~s.moved[slots] & np.isfinite(s.origin[slots, 0])
        old = unmoved & (t - s.start[slots] >= after)
        for p in s.origin[np.unique(slots[old])]:
            if not len(self.still_spots) or np.min(np.linalg.norm(self.still_spots - p, axis=1)) > reach:
                self.still_spots = np.vstack([self.still_spots, p])
                self.stats.still_spots += 1
        near = np.zeros(len(slots), bool)
        if len(self.still_spots):
            d = pairwise_distance(s.origin[slots], self.still_spots)
            near = unmoved & (d.min(axis=1) <= reach)
        return old | near

    def _ensure_store(self, dim: int) -> ClusterStore:
        if self.store is None:
            t = self.cfg.tracker
            self.store = ClusterStore(t.bank_size, t.bank_anchors, dim, seen_window=self.steps.cannot_link)
        return self.store

    def _predict(self, t: int) -> None:
        s = self.store
        live = s.slots_in(TENTATIVE, TRACKED)
        steps = t - s.pred_frame[live]
        s.mean[live], s.cov[live] = self.kf.predict(s.mean[live], s.cov[live], steps)
        s.pred_frame[live] = t

    def _sparse_cost(
        self, inp: StepInput, rows: np.ndarray, slots: np.ndarray, emb_gate: float, dist_gate: float, dist_weight: float
    ) -> np.ndarray:
        """Cost (<= 1 inside the gates, inf outside) between observations and clusters.

        cost = w x distance / gate + (1 - w) x appearance / gate, appearance being the mean cosine
        distance / 2 to the cluster's bank. An observation's bound cluster (its local track's)
        gets the looser binding gates and the binding bonus. Appearance is only computed for pairs
        that pass the distance gate, which keeps this linear in the number of observations.
        """
        s, tc, cfg = self.store, self.cfg.tracker, self.cfg
        world, has_world = inp.world, inp.has_world
        cost = np.full((len(rows), len(slots)), np.inf)
        if not len(rows) or not len(slots):
            return cost
        is_bound = inp.bound[rows][:, None] == slots[None, :]
        if cfg.use_world:
            d = pairwise_distance(world[rows], s.mean[slots, :2])
            d[~has_world[rows]] = np.inf
            d_bound = np.where(has_world[rows][:, None], d, 0.0)  # trust the local track where the feet are cut
            near = np.isfinite(d) & (d <= dist_gate)
            near_bound = is_bound & (d_bound <= tc.bind_gate_m)
        else:
            d = d_bound = np.zeros(cost.shape)
            near = np.ones(cost.shape, bool)
            near_bound = is_bound
        ii, kk = np.nonzero(near | near_bound)
        a = s.pair_bank_distance(inp.feats[rows[ii]], slots[kk]) if cfg.use_appearance else np.zeros(len(ii))
        w = dist_weight if (cfg.use_world and cfg.use_appearance) else (1.0 if cfg.use_world else 0.0)
        ok = near[ii, kk] & (a <= emb_gate)

        def distance_term(dist: np.ndarray) -> np.ndarray:
            return w * np.minimum(dist / dist_gate, 1.0) if w > 0 else np.zeros(len(dist))

        c = distance_term(d[ii, kk]) + (1 - w) * np.minimum(a / emb_gate, 1.0)
        cost[ii[ok], kk[ok]] = c[ok]
        ok_b = near_bound[ii, kk] & (a <= tc.bind_emb_gate)
        c_b = distance_term(d_bound[ii, kk]) + (1 - w) * np.minimum(a / emb_gate, 1.0)
        c_b = np.maximum(c_b - tc.bind_bonus, 0.0)
        cost[ii[ok_b], kk[ok_b]] = np.minimum(cost[ii[ok_b], kk[ok_b]], c_b[ok_b])
        return cost

    def _assign_per_camera(
        self, rows: np.ndarray, slots: np.ndarray, cams: np.ndarray, assign: np.ndarray, cost_fn
    ) -> None:
        """Hungarian per camera: one observation per cluster per camera, clusters keep other cameras.

        The feasible pairs split into independent pieces; a pair that competes with nothing (its
        observation fits one cluster, which no other observation of its camera fits) is taken as
        is, and only the contested pieces of each camera go through the Hungarian solver.
        """
        if not len(rows) or not len(slots):
            return
        cost = cost_fn(rows, slots)
        feasible = cost <= 1.0
        row_cams = cams[rows]
        # clusters that already have an observation of a camera this step are not free for it
        taken = assign >= 0
        if taken.any():
            width = int(max(slots.max(), assign.max())) + 1
            taken_keys = cams[taken] * width + assign[taken]
            feasible &= ~np.isin(row_cams[:, None] * width + slots[None, :], taken_keys)
        ii, kk = np.nonzero(feasible)
        if not len(ii):
            return
        row_degree = np.bincount(ii, minlength=len(rows))
        _, key_of_pair, key_degree = np.unique(row_cams[ii] * len(slots) + kk, return_inverse=True, return_counts=True)
        alone = (row_degree[ii] == 1) & (key_degree[key_of_pair] == 1)
        assign[rows[ii[alone]]] = slots[kk[alone]]
        contested = ~alone
        if not contested.any():
            return
        cost = np.where(feasible, cost, np.inf)
        for cam in np.unique(row_cams[ii[contested]]).tolist():
            pick = contested & (row_cams[ii] == cam)
            sel, cols = np.unique(ii[pick]), np.unique(kk[pick])
            m, _, _ = linear_assignment(cost[np.ix_(sel, cols)], 1.0)
            for r, c in m.tolist():
                assign[rows[sel[r]]] = slots[cols[c]]

    def _lost_cost(self, feats: np.ndarray, world: np.ndarray, slots: np.ndarray, t: int) -> np.ndarray:
        s, tc = self.store, self.cfg.tracker
        a = s.bank_distance(feats, slots)
        cost = np.minimum(a / tc.lost_emb_thresh, 1.0)
        cost[a > tc.lost_emb_thresh] = np.inf
        if tc.lost_max_speed > 0 and self.cfg.use_world:
            gap = (t - s.last[slots]) / self.fps
            reach = tc.lost_max_speed * gap + tc.euc_thresh
            d = pairwise_distance(world, s.mean[slots, :2])
            cost[~(d <= reach[None, :])] = np.inf
        return cost

    def _distance_cost(self, world: np.ndarray, slots: np.ndarray) -> np.ndarray:
        gate = self.cfg.tracker.fallback_gate_m
        d = pairwise_distance(world, self.store.mean[slots, :2])
        cost = np.minimum(d / gate, 1.0)
        cost[~(d <= gate)] = np.inf
        return cost

    def _add_bank_features(self, inp: StepInput, rows: np.ndarray, group: np.ndarray, slots_seen: np.ndarray) -> None:
        """One feature per cluster and step: its largest confident box, unless another box of its
        camera covers part of it (an occluded look mixes people)."""
        cfg = self.cfg
        good = (inp.quality & inp.clear_view & (inp.score >= cfg.sct.track_high_thresh))[rows]
        if not good.any():
            return
        g_rows, g_group = rows[good], group[good]
        area = inp.boxes[g_rows, 2] * inp.boxes[g_rows, 3]
        order = np.lexsort((-area, g_group))
        first = np.ones(len(order), bool)
        first[1:] = g_group[order][1:] != g_group[order][:-1]
        pick = order[first]
        pick = pick[_max_overlap(g_rows[pick], inp.cams, inp.boxes) <= FEATURE_MAX_OVERLAP]
        self.store.add_features_batch(
            slots_seen[g_group[pick]], inp.feats[g_rows[pick]], area[pick], cfg.sct.feature_ema
        )

    def _camera_bits(self, cams: np.ndarray) -> np.ndarray:
        present, inverse = np.unique(cams, return_inverse=True)
        idx = np.array(
            [self.camera_index.setdefault(int(c), len(self.camera_index)) for c in present.tolist()], dtype=np.uint64
        )
        return np.left_shift(np.uint64(1), idx[inverse] % np.uint64(64))

    def _confirm(self, slots: np.ndarray) -> None:
        s = self.store
        for slot in np.sort(slots).tolist():
            s.state[slot] = TRACKED
            if s.out_id[slot] < 0:
                s.out_id[slot] = self.next_out_id
                self.next_out_id += 1
                self.stats.confirmed += 1

    def _expire(self, t: int) -> None:
        s, tc = self.store, self.cfg.tracker
        lost = s.slots_in(LOST)
        if not len(lost):
            return
        s.free(lost[t - s.last[lost] > self.steps.lost_ttl])
        lost = s.slots_in(LOST)
        if len(lost) > tc.max_lost:
            oldest = lost[np.lexsort((s.cid[lost], s.last[lost]))][: len(lost) - tc.max_lost]
            s.free(oldest)
