"""Cluster self-refinement, run every ``period`` frames after the step's assignments.

* split: a cluster whose bank forms two far-apart appearance groups (2-way average-linkage
  clustering on cosine distance, compared through each group's largest-box feature) keeps the
  group added first and drops the other; this step's observations that look like the dropped
  group leave the cluster, and their local tracks are unbound so they associate afresh;
* merge: two confirmed clusters close in appearance and position become one (the younger joins
  the older), unless one camera sees both at once (then they are two people);
* re-link: a young cluster that matches an older lost one in appearance, appeared after it was
  lost and not farther than walking allows, hands its observations to the lost identity.

Only future output changes: rows already written keep their ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from mcpt.association.bindings import LocalTrackBindings
from mcpt.association.steps import StepCounts
from mcpt.association.store import LOST, TENTATIVE, TRACKED, ClusterStore
from mcpt.config import AssociationConfig
from mcpt.matching import pairwise_distance


@dataclass(frozen=True)
class RefineCounts:
    splits: int = 0
    merges: int = 0
    relinks: int = 0


def _two_groups(feats: np.ndarray) -> np.ndarray | None:
    """Labels 0/1 from 2-way average-linkage clustering on cosine distance; None if one group."""
    if len(feats) < 2:
        return None
    z = linkage(feats.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(z, t=2, criterion="maxclust") - 1
    if labels.min() == labels.max():
        return None
    return labels


def split(
    s: ClusterStore,
    bindings: LocalTrackBindings,
    cfg: AssociationConfig,
    assign: np.ndarray,
    cams: np.ndarray,
    feats: np.ndarray,
    locals_: np.ndarray,
) -> int:
    """Split mixed clusters; returns how many."""
    rc = cfg.refine
    done = 0
    for slot in s.slots_in(TENTATIVE, TRACKED, LOST).tolist():
        if not s.dirty[slot] or s.bank_n[slot] < 2:
            continue
        s.dirty[slot] = False
        n = int(s.bank_n[slot])
        bank = s.bank[slot, :n]
        # no two features that far apart: no split possible (skips the clustering for most clusters)
        if (1.0 - float((bank @ bank.T).min())) * 0.5 <= rc.split_emb:
            continue
        labels = _two_groups(bank)
        if labels is None:
            continue
        area = s.bank_area[slot, :n]
        reps = [bank[labels == g][np.argmax(area[labels == g])] for g in (0, 1)]
        if (1.0 - float(reps[0] @ reps[1])) * 0.5 <= rc.split_emb:
            continue
        seq = s.bank_seq[slot, :n]
        keep = 0 if seq[labels == 0].mean() <= seq[labels == 1].mean() else 1
        keep_mean = bank[labels == keep].mean(axis=0)
        drop_mean = bank[labels != keep].mean(axis=0)
        s.keep_bank(slot, labels == keep)
        rows = np.flatnonzero(assign == slot)
        if len(rows):
            leave = rows[feats[rows] @ drop_mean > feats[rows] @ keep_mean]
            assign[leave] = -1
            bindings.unbind(leave, cams, locals_)
        done += 1
    return done


def merge(
    s: ClusterStore,
    bindings: LocalTrackBindings,
    cfg: AssociationConfig,
    steps: StepCounts,
    t: int,
    assign: np.ndarray,
) -> int:
    """Merge confirmed clusters of one person (the younger joins the older); returns how many."""
    rc = cfg.refine
    conf = s.slots_in(TRACKED)
    conf = conf[s.out_id[conf] >= 0]
    if len(conf) < 2:
        return 0
    ok = np.ones((len(conf), len(conf)), bool)
    cost = np.zeros((len(conf), len(conf)))
    if cfg.use_world:
        d = pairwise_distance(s.mean[conf, :2], s.mean[conf, :2])
        ok &= d < rc.merge_euc
        cost += d / rc.merge_euc
    if cfg.use_appearance:
        app = s.bank_block_distance(conf, conf)
        ok &= app < rc.merge_emb
        cost += app / rc.merge_emb
    established = (t - s.start[conf]) > steps.established
    if t > steps.merge_warmup and not rc.merge_established:
        ok &= ~(established[:, None] & established[None, :])
    ok &= ~s.seen_together(conf, conf)  # one camera saw both at once: two people
    ok &= np.triu(np.ones_like(ok), k=1)
    if not ok.any():
        return 0
    iu, ju = np.nonzero(ok)
    done: set[int] = set()
    for k in np.lexsort((ju, iu, cost[iu, ju])).tolist():
        a, b = int(conf[iu[k]]), int(conf[ju[k]])
        if a in done or b in done:
            continue
        keep, gone = (a, b) if s.cid[a] < s.cid[b] else (b, a)
        _absorb(s, bindings, cfg, keep, gone, assign)
        done.update((a, b))
    return len(done) // 2


def relink(
    s: ClusterStore,
    bindings: LocalTrackBindings,
    cfg: AssociationConfig,
    steps: StepCounts,
    fps: float,
    t: int,
    assign: np.ndarray,
) -> int:
    """Hand young clusters to the older lost identities they continue; returns how many."""
    rc, tc = cfg.refine, cfg.tracker
    young = s.slots_in(TRACKED, TENTATIVE)
    young = young[(t - s.start[young]) < steps.established]
    lost = s.slots_in(LOST)
    lost = lost[s.out_id[lost] >= 0]
    if not len(young) or not len(lost):
        return 0
    young = young[s.bank_n[young] >= rc.relink_min_features]
    if not len(young):
        return 0
    app = s.bank_block_distance(young, lost)
    ok = app < rc.relink_emb
    if rc.relink_gap > 0:
        # the two banks must be as alike as each bank is to itself: a look-alike is further by the
        # gap between the two people, whatever the ReID model's scale
        own = 0.5 * (s.bank_self_distance(young)[:, None] + s.bank_self_distance(lost)[None, :])
        ok &= app - own < rc.relink_gap
    ok &= s.last[lost][None, :] < s.start[young][:, None]  # the lost one was gone before the young one came
    if tc.lost_max_speed > 0 and cfg.use_world:
        gap = (s.start[young][:, None] - s.last[lost][None, :]) / fps
        d = pairwise_distance(s.mean[young, :2], s.mean[lost, :2])
        ok &= d <= tc.lost_max_speed * np.maximum(gap, 0) + tc.euc_thresh
    iu, ju = np.nonzero(ok)
    done_y: set[int] = set()
    done_l: set[int] = set()
    for k in np.lexsort((ju, iu, app[iu, ju])).tolist():
        y, lo = int(young[iu[k]]), int(lost[ju[k]])
        if y in done_y or lo in done_l:
            continue
        s.mean[lo], s.cov[lo], s.pred_frame[lo] = s.mean[y], s.cov[y], s.pred_frame[y]
        s.state[lo] = TRACKED
        s.last[lo] = s.last[y]
        _absorb(s, bindings, cfg, lo, y, assign)
        done_y.add(y)
        done_l.add(lo)
    return len(done_y)


def _absorb(
    s: ClusterStore, bindings: LocalTrackBindings, cfg: AssociationConfig, keep: int, gone: int, assign: np.ndarray
) -> None:
    """Cluster ``gone`` joins ``keep``: observations, bindings, hits and features; ``gone`` is freed."""
    assign[assign == gone] = keep
    bindings.rebind(s, gone, keep)
    s.hits[keep] += s.hits[gone]
    s.seen[keep] |= s.seen[gone]
    n = int(s.bank_n[gone])
    if n:
        order = np.argsort(s.bank_seq[gone, :n])
        s.add_features(keep, s.bank[gone, order], s.bank_area[gone, order], cfg.sct.feature_ema)
    s.free(np.array([gone]))


def refine(
    store: ClusterStore,
    bindings: LocalTrackBindings,
    cfg: AssociationConfig,
    steps: StepCounts,
    fps: float,
    t: int,
    assign: np.ndarray,
    cams: np.ndarray,
    feats: np.ndarray,
    locals_: np.ndarray,
) -> RefineCounts:
    """Split, merge, re-link (each as the config allows); ``assign`` follows the clusters that change."""
    rc = cfg.refine
    splits = merges = relinks = 0
    if rc.split and cfg.use_appearance:
        splits = split(store, bindings, cfg, assign, cams, feats, locals_)
    if rc.merge:
        merges = merge(store, bindings, cfg, steps, t, assign)
    if rc.relink and cfg.use_appearance:
        relinks = relink(store, bindings, cfg, steps, fps, t, assign)
    return RefineCounts(splits, merges, relinks)
