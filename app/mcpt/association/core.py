"""The online associator: Observations of one time step in, global identities and positions out.

Per step:
1. match observations camera by camera to active clusters on floor distance + appearance (mean
   cosine distance to the cluster's feature bank), one observation per camera per cluster; the
   cluster a local track (camera, local id) joined before is preferred but can be contested;
2. then to lost clusters on appearance with a speed gate (off by default: re-link does it), then
   to unconfirmed clusters;
3. group what is left across cameras into new, unconfirmed clusters;
4. attach observations unfit for clustering (low score, squat boxes) to the nearest identity;
5. fuse each cluster's floor position (robust inverse-variance mean of its cameras, constant-velocity
   Kalman filter), add one clean feature to its bank, confirm after ``min_hits`` frames;
6. every ``period`` frames, refine clusters (split / merge / re-link, see refine.py);
7. output every observation of a confirmed cluster with the cluster's global id and position.

Global ids are given at confirmation and never reused; a row once output is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mcpt.association.fusion import fuse_positions
from mcpt.association.grouping import group_observations
from mcpt.association.kalman import PointKalman
from mcpt.association.matching import linear_assignment
from mcpt.association.refine import refine
from mcpt.association.store import FREE, LOST, TENTATIVE, TRACKED, ClusterStore
from mcpt.config import AssociationConfig
from mcpt.observation import ObservationBatch

STAGES = ("none", "binding", "active", "lost", "unconfirmed", "new", "fallback")
BINDING_TTL = 30  # frames a (camera, local track) -> cluster binding outlives its last use
FEATURE_MAX_OVERLAP = 0.2  # a box covered more than this by others gives no bank feature


@dataclass
class StepResult:
    frame_id: int
    global_id: np.ndarray  # (N,) int64, -1 where the observation is not output
    position: np.ndarray  # (N, 2) floor position written for the row (NaN where not output)
    cluster: np.ndarray  # (N,) internal cluster id (-1 unassigned), for diagnostics
    stage: np.ndarray  # (N,) index into STAGES: which step assigned the row, for diagnostics


@dataclass
class AssociatorStats:
    frames: int = 0
    observations: int = 0
    output_rows: int = 0
    confirmed: int = 0
    splits: int = 0
    merges: int = 0
    relinks: int = 0
    lost_revived: int = 0
    extra: dict = field(default_factory=dict)


def _max_overlap(rows: np.ndarray, cameras: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the largest fraction of its box covered by another box of the same camera."""
    if not len(rows):
        return np.zeros(0)
    b = boxes[rows]
    a1, a2 = b[:, None, :2], b[:, None, :2] + b[:, None, 2:]
    c1, c2 = boxes[None, :, :2], boxes[None, :, :2] + boxes[None, :, 2:]
    wh = np.clip(np.minimum(a2, c2) - np.maximum(a1, c1), 0, None)
    frac = wh[..., 0] * wh[..., 1] / np.maximum(b[:, 2] * b[:, 3], 1e-9)[:, None]
    frac[cameras[rows][:, None] != cameras[None, :]] = 0.0
    frac[np.arange(len(rows)), rows] = 0.0
    return frac.max(axis=1)


class Associator:
    def __init__(self, cfg: AssociationConfig, fps: float = 10.0) -> None:
        self.cfg = cfg
        self.fps = fps
        self.kf = PointKalman(1.0 / fps, cfg.position.accel_std, cfg.position.meas_std)
        self.store: ClusterStore | None = None
        self.bindings: dict[tuple[int, int], tuple[int, int, int]] = {}  # key -> (slot, cid, last frame)
        self.next_out_id = 1
        self.stats = AssociatorStats()
        self.frame = -1
        self.camera_index: dict[int, int] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def _ensure_store(self, dim: int) -> ClusterStore:
        if self.store is None:
            t = self.cfg.tracker
            self.store = ClusterStore(t.bank_size, t.bank_anchors, dim)
        return self.store

    def _predict(self, frame: int) -> None:
        s = self.store
        live = s.slots_in(TENTATIVE, TRACKED)
        steps = frame - s.pred_frame[live]
        s.mean[live], s.cov[live] = self.kf.predict(s.mean[live], s.cov[live], steps)
        s.pred_frame[live] = frame

    def _sparse_cost(
        self,
        rows: np.ndarray,
        slots: np.ndarray,
        feats: np.ndarray,
        world: np.ndarray,
        has_world: np.ndarray,
        bound: np.ndarray,
        emb_gate: float,
        dist_gate: float,
        dist_weight: float,
    ) -> np.ndarray:
        """Cost (<= 1 inside the gates, inf outside) between observations and clusters.

        cost = w x distance / gate + (1 - w) x appearance / gate, appearance being the mean cosine
        distance / 2 to the cluster's bank. An observation's bound cluster (its local track's)
        gets the looser binding gates and half the cost. Appearance is only computed for pairs
        that pass the distance gate, which keeps this linear in the number of observations.
        """
        s, tc, cfg = self.store, self.cfg.tracker, self.cfg
        cost = np.full((len(rows), len(slots)), np.inf)
        if not len(rows) or not len(slots):
            return cost
        is_bound = bound[rows][:, None] == slots[None, :]
        if cfg.use_world:
            d = np.linalg.norm(world[rows][:, None, :] - s.mean[slots][None, :, :2], axis=2)
            d[~has_world[rows]] = np.inf
            d_bound = np.where(has_world[rows][:, None], d, 0.0)  # trust the local track where the feet are cut
            near = d <= dist_gate
            near_bound = is_bound & (d_bound <= tc.bind_gate_m)
        else:
            d = d_bound = np.zeros(cost.shape)
            near = np.ones(cost.shape, bool)
            near_bound = is_bound
        ii, kk = np.nonzero(near | near_bound)
        a = s.pair_bank_distance(feats[rows[ii]], slots[kk]) if cfg.use_appearance else np.zeros(len(ii))
        w = dist_weight if (cfg.use_world and cfg.use_appearance) else (1.0 if cfg.use_world else 0.0)
        ok = near[ii, kk] & (a <= emb_gate)
        c = w * np.minimum(d[ii, kk] / dist_gate, 1.0) + (1 - w) * np.minimum(a / emb_gate, 1.0)
        cost[ii[ok], kk[ok]] = c[ok]
        ok_b = near_bound[ii, kk] & (a <= tc.bind_emb_gate)
        c_b = w * np.minimum(d_bound[ii, kk] / dist_gate, 1.0) + (1 - w) * np.minimum(a / emb_gate, 1.0)
        c_b = np.maximum(c_b - tc.bind_bonus, 0.0)

        cost[ii[ok_b], kk[ok_b]] = np.minimum(cost[ii[ok_b], kk[ok_b]], c_b[ok_b])
        return cost

    def _assign_per_camera(
        self, rows: np.ndarray, slots: np.ndarray, cams: np.ndarray, assign: np.ndarray, cost_fn
    ) -> None:
        """Hungarian per camera: one observation per cluster per camera, clusters keep other cameras."""
        if not len(rows) or not len(slots):
            return
        slot_cams = {}
        taken = assign >= 0
        for slot, cam in zip(assign[taken].tolist(), cams[taken].tolist(), strict=True):
            slot_cams.setdefault(slot, set()).add(cam)
        full_cost = cost_fn(rows, slots)
        for cam in np.unique(cams[rows]).tolist():
            sel = np.flatnonzero(cams[rows] == cam)
            free_cols = np.array(
                [k for k, sl in enumerate(slots.tolist()) if cam not in slot_cams.get(sl, ())], dtype=np.int64
            )
            if not len(free_cols):
                continue
            m, _, _ = linear_assignment(full_cost[np.ix_(sel, free_cols)], 1.0)
            for r, c in m.tolist():
                assign[rows[sel[r]]] = slots[free_cols[c]]

    # -- one step --------------------------------------------------------------------------------
    def update(self, batch: ObservationBatch) -> StepResult:
        cfg, tc = self.cfg, self.cfg.tracker
        t = batch.frame_id
        self.frame = t
        n = len(batch)
        self.stats.frames += 1
        self.stats.observations += n
        dim = batch.embedding.shape[1] if batch.embedding.ndim == 2 and batch.embedding.shape[1] else 1
        s = self._ensure_store(dim)
        self._predict(t)

        cams = batch.camera_id.astype(np.int64)
        world = batch.world_xy.astype(np.float64)
        feats = batch.embedding.astype(np.float32) if n else np.zeros((0, s.dim), np.float32)
        boxes = batch.bbox.astype(np.float64)
        std = batch.world_std if batch.world_std is not None else np.full(n, np.nan)
        std = np.where(np.isfinite(std), std, cfg.position.meas_std)
        has_world = np.all(np.isfinite(world), axis=1) & (std <= cfg.position.max_reliable_std)
        hw = boxes[:, 3] / np.maximum(boxes[:, 2], 1e-9)
        cc = cfg.clustering
        quality = (batch.score >= cc.min_score) & (hw >= cc.min_height_width_ratio)
        if cfg.use_world:
            quality &= has_world
        assign = np.full(n, -1, np.int64)
        stage = np.zeros(n, np.int8)

        def mark(code: int) -> None:
            stage[(assign >= 0) & (stage == 0)] = code

        def unassigned_quality() -> np.ndarray:
            return np.flatnonzero((assign < 0) & quality)

        # 1+2. observations -> active clusters (tracked, or lost only briefly), camera by camera; a local
        # track's previous cluster is preferred (binding gates, cost minus bind_bonus) but can be contested
        bound = self._bound_slots(batch.local_track_id, cams)
        recent = s.slots_in(LOST)
        active = np.concatenate([s.slots_in(TRACKED), recent[t - s.last[recent] <= tc.id_pool_frames]])
        appearance_only = tc.appearance_only_every > 0 and t % tc.appearance_only_every == 0 and cfg.use_appearance
        gate, weight = (tc.bind_gate_m, 0.0) if appearance_only else (tc.euc_thresh, tc.distance_weight)
        self._assign_per_camera(
            np.flatnonzero(quality | (bound >= 0)),
            active,
            cams,
            assign,
            lambda r, sl: self._sparse_cost(r, sl, feats, world, has_world, bound, tc.emb_thresh, gate, weight),
        )
        mark(1)
        stage[(stage == 1) & ~(bound == assign)] = 2

        # 3. -> lost clusters, on appearance, where the time lost allows the distance
        lost = s.slots_in(LOST)
        lost = lost[t - s.last[lost] > tc.id_pool_frames]
        if cfg.use_appearance and tc.lost_emb_thresh > 0:
            self._assign_per_camera(
                unassigned_quality(), lost, cams, assign, lambda r, sl: self._lost_cost(feats[r], world[r], sl, t)
            )
        self.stats.lost_revived += len(np.unique(assign[(assign >= 0) & (stage == 0)]))
        mark(3)

        # 4. -> unconfirmed clusters
        self._assign_per_camera(
            unassigned_quality(),
            s.slots_in(TENTATIVE),
            cams,
            assign,
            lambda r, sl: self._sparse_cost(
                r, sl, feats, world, has_world, bound, tc.emb_thresh, tc.euc_thresh, tc.distance_weight
            ),
        )
        mark(4)

        # 5. the rest -> new clusters, grouped across cameras
        self._new_clusters(t, unassigned_quality(), cams, world, feats, has_world, assign)
        mark(5)

        # 6. observations unfit for clustering -> nearest identity by position
        rows = np.flatnonzero((assign < 0) & has_world)
        if cfg.use_world:
            live = s.slots_in(TRACKED, TENTATIVE)
            self._assign_per_camera(rows, live, cams, assign, lambda r, sl: self._distance_cost(world[r], sl))
        mark(6)

        # 7. update clusters
        good_feature = quality & (batch.score >= cfg.sct.track_high_thresh)
        self._update_clusters(t, assign, cams, world, std, has_world, feats, boxes, good_feature)

        ok = assign >= 0
        s.record_seen(t, assign[ok], self._camera_bits(cams[ok]))

        # 8. refinement
        if cfg.refine.enabled and cfg.refine.period > 0 and t % cfg.refine.period == 0:
            refine(self, t, assign, cams, feats, batch.local_track_id)

        # 9. bookkeeping: bindings, expiry
        self._bind(batch, assign, t)
        self._expire(t)

        # 10. output
        gid = np.full(n, -1, np.int64)
        position = np.full((n, 2), np.nan)
        cid = np.full(n, -1, np.int64)
        ok = assign >= 0
        cid[ok] = s.cid[assign[ok]]
        out = ok.copy()
        out[ok] = s.out_id[assign[ok]] >= 0
        gid[out] = s.out_id[assign[out]]
        position[out] = s.mean[assign[out], :2]
        if not cfg.position.fuse:
            own = out & has_world
            position[own] = world[own]
        self.stats.output_rows += int(out.sum())
        stage[assign < 0] = 0
        return StepResult(t, gid, position, cid, stage)

    def _camera_bits(self, cams: np.ndarray) -> np.ndarray:
        idx = np.array(
            [self.camera_index.setdefault(int(c), len(self.camera_index)) for c in cams.tolist()], dtype=np.uint64
        )
        return np.left_shift(np.uint64(1), idx % np.uint64(64))

    # -- steps -------------------------------------------------------------------------------------
    def _bound_slots(self, locals_: np.ndarray, cams: np.ndarray) -> np.ndarray:
        """Per observation, the live cluster its local track joined before (-1 if none)."""
        s, tc = self.store, self.cfg.tracker
        out = np.full(len(locals_), -1, np.int64)
        for i in np.flatnonzero(locals_ >= 0).tolist():
            b = self.bindings.get((int(cams[i]), int(locals_[i])))
            if b is None:
                continue
            slot, cid, _ = b
            if s.cid[slot] != cid or s.state[slot] == FREE:
                continue
            if s.state[slot] == LOST and self.frame - s.last[slot] > tc.id_pool_frames:
                continue
            out[i] = slot
        return out

    def _new_clusters(self, t, rows, cams, world, feats, has_world, assign) -> None:
        s, cfg, cc = self.store, self.cfg, self.cfg.clustering
        groups = group_observations(
            cams[rows],
            world[rows],
            feats[rows],
            cc.emb_thresh,
            cc.euc_thresh,
            cc.appearance_ratio,
            cfg.use_world,
            cfg.use_appearance,
        )
        if not groups:
            return
        new_slots = s.new(len(groups), t)
        pos = np.zeros((len(groups), 2))
        for k, (g, slot) in enumerate(zip(groups, new_slots.tolist(), strict=True)):
            assign[rows[g]] = slot
            pts = world[rows[g]][has_world[rows[g]]]
            if len(pts):
                pos[k] = np.median(pts, axis=0)
        s.mean[new_slots], s.cov[new_slots] = self.kf.initiate(pos)
        s.pred_frame[new_slots] = t

    def _lost_cost(self, feats: np.ndarray, world: np.ndarray, slots: np.ndarray, t: int) -> np.ndarray:
        s, tc = self.store, self.cfg.tracker
        a = s.bank_distance(feats, slots)
        cost = np.minimum(a / tc.lost_emb_thresh, 1.0)
        cost[a > tc.lost_emb_thresh] = np.inf
        if tc.lost_max_speed > 0 and self.cfg.use_world:
            gap = (t - s.last[slots]) / self.fps
            reach = tc.lost_max_speed * gap + tc.euc_thresh
            d = np.linalg.norm(world[:, None, :] - s.mean[slots][None, :, :2], axis=2)
            cost[~(d <= reach[None, :])] = np.inf
        return cost

    def _distance_cost(self, world: np.ndarray, slots: np.ndarray) -> np.ndarray:
        gate = self.cfg.tracker.fallback_gate_m
        d = np.linalg.norm(world[:, None, :] - self.store.mean[slots][None, :, :2], axis=2)
        cost = np.minimum(d / gate, 1.0)
        cost[~(d <= gate)] = np.inf
        return cost

    def _update_clusters(self, t, assign, cams, world, std, has_world, feats, boxes, good_feature) -> None:
        s, cfg = self.store, self.cfg
        ok = assign >= 0
        slots_seen, group = np.unique(assign[ok], return_inverse=True)
        rows = np.flatnonzero(ok)
        pw = has_world[rows]
        meas, meas_var = fuse_positions(
            group[pw],
            world[rows[pw]],
            np.hypot(std[rows[pw]], cfg.position.camera_bias_std),
            s.mean[slots_seen, :2],
            s.hits[slots_seen] > 0,
            cfg.position.outlier_m,
        )
        if cfg.use_appearance:
            # one feature per cluster and frame: its largest confident box...
            good = good_feature[rows]
            if good.any():
                g_rows, g_group = rows[good], group[good]
                area = boxes[g_rows, 2] * boxes[g_rows, 3]
                order = np.lexsort((-area, g_group))
                first = np.ones(len(order), bool)
                first[1:] = g_group[order][1:] != g_group[order][:-1]
                pick = order[first]
                # ... unless another box of its camera covers part of it (an occluded look mixes people)
                pick = pick[_max_overlap(g_rows[pick], cams, boxes) <= FEATURE_MAX_OVERLAP]
                s.add_features_batch(slots_seen[g_group[pick]], feats[g_rows[pick]], area[pick], cfg.sct.feature_ema)
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
        s.hits[slots_seen] += 1
        s.misses[slots_seen] = 0
        s.last[slots_seen] = t
        s.state[slots_seen[s.state[slots_seen] == LOST]] = TRACKED
        confirm = slots_seen[(s.state[slots_seen] == TENTATIVE) & (s.hits[slots_seen] >= cfg.tracker.min_hits)]
        self._confirm(confirm)
        # clusters not seen now
        unseen = np.setdiff1d(s.slots_in(TENTATIVE, TRACKED), slots_seen)
        tracked_unseen = unseen[s.state[unseen] == TRACKED]
        s.state[tracked_unseen] = LOST
        tent = unseen[s.state[unseen] == TENTATIVE]
        s.misses[tent] += 1
        s.free(tent[s.misses[tent] > cfg.tracker.tentative_max_misses])

    def _confirm(self, slots: np.ndarray) -> None:
        s = self.store
        for slot in np.sort(slots).tolist():
            s.state[slot] = TRACKED
            if s.out_id[slot] < 0:
                s.out_id[slot] = self.next_out_id
                self.next_out_id += 1
                self.stats.confirmed += 1

    def _bind(self, batch: ObservationBatch, assign: np.ndarray, t: int) -> None:
        s = self.store
        locals_ = batch.local_track_id
        for i in np.flatnonzero((assign >= 0) & (locals_ >= 0)).tolist():
            slot = int(assign[i])
            self.bindings[(int(batch.camera_id[i]), int(locals_[i]))] = (slot, int(s.cid[slot]), t)
        if t % BINDING_TTL == 0 and self.bindings:
            self.bindings = {k: v for k, v in self.bindings.items() if t - v[2] <= BINDING_TTL}

    def _expire(self, t: int) -> None:
        s, tc = self.store, self.cfg.tracker
        lost = s.slots_in(LOST)
        if not len(lost):
            return
        old = lost[t - s.last[lost] > tc.max_time_lost]
        s.free(old)
        lost = s.slots_in(LOST)
        if len(lost) > tc.max_lost:
            oldest = lost[np.lexsort((s.cid[lost], s.last[lost]))][: len(lost) - tc.max_lost]
            s.free(oldest)

    def unbind_rows(self, rows: np.ndarray, cams: np.ndarray, locals_: np.ndarray) -> None:
        """Forget the bindings of these observations' local tracks (after a split)."""
        for i in rows.tolist():
            if locals_[i] >= 0:
                self.bindings.pop((int(cams[i]), int(locals_[i])), None)

    def rebind(self, from_slot: int, to_slot: int) -> None:
        """Local tracks bound to one cluster now belong to another (after a merge or re-link)."""
        s = self.store
        old_cid, new_cid = int(s.cid[from_slot]), int(s.cid[to_slot])
        for key, (slot, cid, last) in list(self.bindings.items()):
            if slot == from_slot and cid == old_cid:
                self.bindings[key] = (to_slot, new_cid, last)

    def active_identities(self) -> int:
        s = self.store
        if s is None:
            return 0
        return int(np.sum((s.state == TRACKED) & (s.out_id >= 0)))
