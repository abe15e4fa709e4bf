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

from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from mcpt.association.store import LOST, TENTATIVE, TRACKED

if TYPE_CHECKING:
    from mcpt.association.core import Associator


def _two_groups(feats: np.ndarray) -> np.ndarray | None:
    """Labels 0/1 from 2-way average-linkage clustering on cosine distance; None if one group."""
    if len(feats) < 2:
        return None
    z = linkage(feats.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(z, t=2, criterion="maxclust") - 1
    if labels.min() == labels.max():
        return None
    return labels


def split(assoc: Associator, assign: np.ndarray, cams: np.ndarray, feats: np.ndarray, locals_: np.ndarray) -> None:
    s, rc = assoc.store, assoc.cfg.refine
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
            assoc.unbind_rows(leave, cams, locals_)
        assoc.stats.splits += 1


def merge(assoc: Associator, t: int, assign: np.ndarray) -> None:
    s, rc, cfg = assoc.store, assoc.cfg.refine, assoc.cfg
    conf = s.slots_in(TRACKED)
    conf = conf[s.out_id[conf] >= 0]
    if len(conf) < 2:
        return
    ok = np.ones((len(conf), len(conf)), bool)
    cost = np.zeros((len(conf), len(conf)))
    if cfg.use_world:
        d = np.linalg.norm(s.mean[conf, None, :2] - s.mean[None, conf, :2], axis=2)
        ok &= d < rc.merge_euc
        cost += d / rc.merge_euc
    if cfg.use_appearance:
        app = s.bank_block_distance(conf, conf)
        ok &= app < rc.merge_emb
        cost += app / rc.merge_emb
    established = (t - s.start[conf]) > rc.established_frames
    if t > 10 and not rc.merge_established:
        ok &= ~(established[:, None] & established[None, :])
    ok &= ~s.seen_together(conf, conf)  # one camera saw both at once: two people
    ok &= np.triu(np.ones_like(ok), k=1)
    if not ok.any():
        return
    iu, ju = np.nonzero(ok)
    done: set[int] = set()
    for k in np.lexsort((ju, iu, cost[iu, ju])).tolist():
        a, b = int(conf[iu[k]]), int(conf[ju[k]])
        if a in done or b in done:
            continue
        keep, gone = (a, b) if s.cid[a] < s.cid[b] else (b, a)
        _absorb(assoc, keep, gone, assign)
        done.update((a, b))
        assoc.stats.merges += 1


def relink(assoc: Associator, t: int, assign: np.ndarray) -> None:
    s, rc, tc = assoc.store, assoc.cfg.refine, assoc.cfg.tracker
    young = s.slots_in(TRACKED, TENTATIVE)
    young = young[(t - s.start[young]) < rc.established_frames]
    lost = s.slots_in(LOST)
    lost = lost[s.out_id[lost] >= 0]
    if not len(young) or not len(lost):
        return
    young = young[s.bank_n[young] >= rc.relink_min_features]
    if not len(young):
        return
    app = s.bank_block_distance(young, lost)
    ok = app < rc.relink_emb
    if rc.relink_gap > 0:
        # the two banks must be as alike as each bank is to itself: a look-alike is further by the
        # gap between the two people, whatever the ReID model's scale
        own = 0.5 * (s.bank_self_distance(young)[:, None] + s.bank_self_distance(lost)[None, :])
        ok &= app - own < rc.relink_gap
    ok &= s.last[lost][None, :] < s.start[young][:, None]  # the lost one was gone before the young one came
    if tc.lost_max_speed > 0 and assoc.cfg.use_world:
        gap = (s.start[young][:, None] - s.last[lost][None, :]) / assoc.fps
        d = np.linalg.norm(s.mean[young, None, :2] - s.mean[None, lost, :2], axis=2)
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
        _absorb(assoc, lo, y, assign)
        done_y.add(y)
        done_l.add(lo)
        assoc.stats.relinks += 1


def _absorb(assoc: Associator, keep: int, gone: int, assign: np.ndarray) -> None:
    """Cluster ``gone`` joins ``keep``: observations, bindings, hits and features; ``gone`` is freed."""
    s = assoc.store
    assign[assign == gone] = keep
    assoc.rebind(gone, keep)
    s.hits[keep] += s.hits[gone]
    s.seen[keep] |= s.seen[gone]
    n = int(s.bank_n[gone])
    if n:
        order = np.argsort(s.bank_seq[gone, :n])
        s.add_features(keep, s.bank[gone, order], s.bank_area[gone, order], assoc.cfg.sct.feature_ema)
    s.free(np.array([gone]))


def refine(
    assoc: Associator, t: int, assign: np.ndarray, cams: np.ndarray, feats: np.ndarray, locals_: np.ndarray
) -> None:
    rc = assoc.cfg.refine
    if rc.split and assoc.cfg.use_appearance:
        split(assoc, assign, cams, feats, locals_)
    if rc.merge:
        merge(assoc, t, assign)
    if rc.relink and assoc.cfg.use_appearance:
        relink(assoc, t, assign)
    # a re-linked or merged young cluster may have made its new owner confirmable
    s = assoc.store
    tent = s.slots_in(TENTATIVE)
    assoc._confirm(tent[s.hits[tent] >= assoc.cfg.tracker.min_hits])
