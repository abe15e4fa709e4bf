"""Cluster state as arrays (one row per slot), so matching gathers rows instead of looping objects.

A cluster is one (hypothesised) person across cameras: a fused floor position with a
constant-velocity Kalman filter, and a bank of good appearance features whose first
``anchors`` entries are never replaced (the identity's reference look) while the rest is a
ring of recent looks. Slots are recycled; ``cid`` tells a recycled slot from its previous owner.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class ClusterState(IntEnum):
    """State of one cluster slot (stored as int8 in ``ClusterStore.state``)."""

    FREE = 0  # slot unused
    TENTATIVE = 1  # not yet confirmed: no global id output
    TRACKED = 2  # seen at the latest step
    LOST = 3  # not seen at the latest step, kept for re-linking


# The states as plain ints for the array code: numpy compares an array with an IntEnum member about
# five times slower than with an int, and the association core compares states dozens of times a step.
FREE, TENTATIVE, TRACKED, LOST = (int(state) for state in ClusterState)


class ClusterStore:
    def __init__(self, bank_size: int, anchors: int, dim: int, seen_window: int = 16, capacity: int = 64) -> None:
        self.bank_size = bank_size
        self.seen_window = seen_window  # steps remembered for the cannot-link test
        self.anchors = min(anchors, bank_size)
        self.dim = dim
        self.next_cid = 1
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        def grow(name: str, shape: tuple, dtype, fill=0) -> None:
            new = np.full((cap, *shape), fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[: len(old)] = old
            setattr(self, name, new)

        grow("cid", (), np.int64, -1)
        grow("out_id", (), np.int64, -1)
        grow("state", (), np.int8, FREE)
        grow("hits", (), np.int64)
        grow("misses", (), np.int64)
        grow("start", (), np.int64)
        grow("last", (), np.int64)  # last frame with observations
        grow("pred_frame", (), np.int64)  # frame the Kalman state refers to
        grow("mean", (4,), np.float64)
        grow("cov", (4, 4), np.float64)
        grow("bank", (self.bank_size, self.dim), np.float32)
        grow("bank_n", (), np.int64)
        grow("bank_seq", (self.bank_size,), np.int64)  # insertion order (for "the older group")
        grow("bank_area", (self.bank_size,), np.float64)
        grow("bank_count", (), np.int64)  # features ever inserted
        grow("smooth", (self.dim,), np.float32)
        grow("dirty", (), bool)  # bank changed since the last split check
        # the mean of each bank's features: a mean of cosine similarities to a bank is one dot product
        # with it; recomputed lazily where ``mean_stale``
        grow("bank_mean", (self.dim,), np.float32)
        grow("mean_stale", (), bool, True)
        # cameras (as bits, camera index mod 64) that saw the cluster in each of the last seen_window steps
        grow("seen", (self.seen_window,), np.uint64)
        grow("origin", (2,), np.float64, np.nan)  # the first fused position
        grow("moved", (), bool)  # ever farther than the still-object distance from ``origin``
        self.capacity = cap

    # -- slots ---------------------------------------------------------------------------------
    def new(self, n: int, frame: int) -> np.ndarray:
        free = np.flatnonzero(self.state == FREE)
        if len(free) < n:
            self._alloc(max(2 * self.capacity, self.capacity + n))
            free = np.flatnonzero(self.state == FREE)
        slots = free[:n]
        self.cid[slots] = np.arange(self.next_cid, self.next_cid + n)
        self.next_cid += n
        self.out_id[slots] = -1
        self.state[slots] = TENTATIVE
        self.hits[slots] = 0
        self.misses[slots] = 0
        self.start[slots] = frame
        self.last[slots] = frame
        self.pred_frame[slots] = frame
        self.bank_n[slots] = 0
        self.bank_count[slots] = 0
        self.smooth[slots] = 0
        self.dirty[slots] = False
        self.mean_stale[slots] = True
        self.seen[slots] = 0
        self.origin[slots] = np.nan
        self.moved[slots] = False
        return slots

    def free(self, slots: np.ndarray) -> None:
        self.state[slots] = FREE
        self.cid[slots] = -1

    def slots_in(self, *states: int) -> np.ndarray:
        mask = self.state == states[0]
        for st in states[1:]:
            mask |= self.state == st
        return np.flatnonzero(mask)

    def record_seen(self, frame: int, slots: np.ndarray, camera_bits: np.ndarray) -> None:
        """Remember which cameras saw which clusters at this frame (for the cannot-link test)."""
        col = frame % self.seen_window
        self.seen[:, col] = 0
        np.bitwise_or.at(self.seen[:, col], slots, camera_bits)

    def seen_together(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(len(a), len(b)): one camera saw both clusters in the same frame, recently: two people."""
        both = self.seen[a][:, None, :] & self.seen[b][None, :, :]
        return np.any(both != 0, axis=2)

    # -- appearance ----------------------------------------------------------------------------
    def add_features(self, slot: int, feats: np.ndarray, areas: np.ndarray, ema: float = 0.9) -> None:
        for f, a in zip(feats, areas, strict=True):
            n = self.bank_n[slot]
            if n < self.bank_size:
                pos = n
                self.bank_n[slot] = n + 1
            else:
                ring = self.bank_size - self.anchors
                if ring <= 0:
                    continue  # a bank of anchors only is frozen once full (the reference's behaviour)
                pos = self.anchors + (self.bank_count[slot] - self.bank_size) % ring
            self.bank[slot, pos] = f
            self.bank_area[slot, pos] = a
            self.bank_seq[slot, pos] = self.bank_count[slot]
            self.bank_count[slot] += 1
            s = self.smooth[slot]
            s = f if not np.any(s) else ema * s + (1 - ema) * f
            self.smooth[slot] = s / max(float(np.linalg.norm(s)), 1e-12)
        if len(feats):
            self.dirty[slot] = True
            self.mean_stale[slot] = True

    def add_features_batch(self, slots: np.ndarray, feats: np.ndarray, areas: np.ndarray, ema: float = 0.9) -> None:
        """One feature into each of several distinct clusters (the vectorised ``add_features``)."""
        n = self.bank_n[slots]
        ring = self.bank_size - self.anchors
        full = n >= self.bank_size
        if ring <= 0:
            slots, feats, areas, n, full = slots[~full], feats[~full], areas[~full], n[~full], full[~full]
            ring = 1
        pos = np.where(full, self.anchors + (self.bank_count[slots] - self.bank_size) % ring, n)
        self.bank[slots, pos] = feats
        self.bank_area[slots, pos] = areas
        self.bank_seq[slots, pos] = self.bank_count[slots]
        self.bank_count[slots] += 1
        self.bank_n[slots] = np.minimum(n + 1, self.bank_size)
        sm = self.smooth[slots]
        fresh = ~np.any(sm != 0, axis=1)
        sm = np.where(fresh[:, None], feats, ema * sm + (1 - ema) * feats)
        self.smooth[slots] = sm / np.maximum(np.linalg.norm(sm, axis=1, keepdims=True), 1e-12)
        self.dirty[slots] = True
        self.mean_stale[slots] = True

    def means(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean feature of each slot's bank, its number of features)."""
        stale = slots[self.mean_stale[slots]]
        if len(stale):
            stale = np.unique(stale)
            valid = np.arange(self.bank_size)[None, :] < self.bank_n[stale][:, None]
            total = np.einsum("kbd,kb->kd", self.bank[stale], valid.astype(np.float32))
            self.bank_mean[stale] = total / np.maximum(self.bank_n[stale], 1)[:, None].astype(np.float32)
            self.mean_stale[stale] = False
        return self.bank_mean[slots], self.bank_n[slots]

    def bank_distance(self, feats: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """(n, k): mean over each cluster's bank of cosine distance / 2 (1 where a bank is empty)."""
        if not len(feats) or not len(slots):
            return np.ones((len(feats), len(slots)))
        mean, count = self.means(slots)
        dist = np.clip((1.0 - feats.astype(np.float32) @ mean.T) * 0.5, 0.0, 1.0).astype(np.float64)
        dist[:, count == 0] = 1.0
        return dist

    def pair_bank_distance(self, feats: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """(p,): for each (feature, cluster) pair, the mean cosine distance / 2 to that cluster's bank."""
        if not len(slots):
            return np.zeros(0)
        mean, count = self.means(slots)
        sim = np.einsum("pd,pd->p", feats.astype(np.float32), mean)
        return np.where(count > 0, np.clip((1.0 - sim) * 0.5, 0.0, 1.0), 1.0)

    def bank_block_distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(len(a), len(b)): mean pairwise cosine distance / 2 between two sets of clusters' banks."""
        if not len(a) or not len(b):
            return np.ones((len(a), len(b)))
        mean_a, count_a = self.means(a)
        mean_b, count_b = self.means(b)
        dist = np.clip((1.0 - mean_a @ mean_b.T) * 0.5, 0.0, 1.0).astype(np.float64)
        dist[(count_a[:, None] == 0) | (count_b[None, :] == 0)] = 1.0
        return dist

    def bank_self_distance(self, slots: np.ndarray) -> np.ndarray:
        """Mean cosine distance / 2 between distinct features of each cluster's own bank (0 if < 2)."""
        if not len(slots):
            return np.zeros(0)
        sims = np.einsum("kxd,kyd->kxy", self.bank[slots], self.bank[slots])
        valid = (np.arange(self.bank_size)[None, :] < self.bank_n[slots][:, None]).astype(np.float32)
        pair = valid[:, :, None] * valid[:, None, :]
        pair[:, np.arange(self.bank_size), np.arange(self.bank_size)] = 0.0
        count = pair.sum(axis=(1, 2))
        mean = (sims * pair).sum(axis=(1, 2)) / np.maximum(count, 1)
        return np.where(count > 0, np.clip((1.0 - mean) * 0.5, 0.0, 1.0), 0.0)

    def keep_bank(self, slot: int, keep: np.ndarray) -> None:
        """Keep only the bank entries selected by the boolean mask (in their order)."""
        n = self.bank_n[slot]
        idx = np.flatnonzero(keep[:n])
        k = len(idx)
        self.bank[slot, :k] = self.bank[slot, idx]
        self.bank_area[slot, :k] = self.bank_area[slot, idx]
        self.bank_seq[slot, :k] = self.bank_seq[slot, idx]
        self.bank_n[slot] = k
        self.mean_stale[slot] = True
        self.bank_count[slot] = max(self.bank_count[slot], k)
        if k:
            m = self.bank[slot, :k].mean(axis=0)
            self.smooth[slot] = m / max(float(np.linalg.norm(m)), 1e-12)
