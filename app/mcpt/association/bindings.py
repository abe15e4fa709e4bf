"""Which cluster each local (single-camera) track joined: strong evidence for the next step.

A binding (camera, local track id) -> (slot, cluster id, last step used) is kept while the
cluster lives and the local track keeps being seen; the matching prefers it (looser gates, a
cost bonus) but position and appearance can contest it. Refinement moves bindings when it
merges or re-links clusters and drops them when it splits a cluster.
"""

from __future__ import annotations

import numpy as np

from mcpt.association.store import FREE, LOST, ClusterStore


class LocalTrackBindings:
    def __init__(self, ttl_steps: int) -> None:
        self.ttl = ttl_steps  # a binding outlives its last use by this many steps
        self.links: dict[tuple[int, int], tuple[int, int, int]] = {}  # key -> (slot, cid, last step)

    def __len__(self) -> int:
        return len(self.links)

    def bound_slots(
        self, store: ClusterStore, locals_: np.ndarray, cams: np.ndarray, t: int, pool_steps: int
    ) -> np.ndarray:
        """Per observation, the live cluster its local track joined before (-1 if none).

        A lost cluster still counts while it has been lost for at most ``pool_steps``.
        """
        out = np.full(len(locals_), -1, np.int64)
        rows = np.flatnonzero(locals_ >= 0)
        found = [self.links.get(key) for key in zip(cams[rows].tolist(), locals_[rows].tolist(), strict=True)]
        hit = np.array([b is not None for b in found], bool)
        if not hit.any():
            return out
        rows = rows[hit]
        slot, cid = np.array([b[:2] for b in found if b is not None], np.int64).reshape(-1, 2).T
        state = store.state[slot]
        live = (store.cid[slot] == cid) & (state != FREE)
        live &= ~((state == LOST) & (t - store.last[slot] > pool_steps))
        out[rows[live]] = slot[live]
        return out

    def bind(self, store: ClusterStore, cams: np.ndarray, locals_: np.ndarray, assign: np.ndarray, t: int) -> None:
        """Remember this step's assignments of local tracks; forget bindings unused for ``ttl`` steps."""
        rows = np.flatnonzero((assign >= 0) & (locals_ >= 0))
        slots = assign[rows]
        keys = zip(cams[rows].tolist(), locals_[rows].tolist(), strict=True)
        values = zip(slots.tolist(), store.cid[slots].tolist(), [t] * len(rows), strict=True)
        self.links.update(zip(keys, values, strict=True))
        if t % self.ttl == 0 and self.links:
            self.links = {k: v for k, v in self.links.items() if t - v[2] <= self.ttl}

    def unbind(self, rows: np.ndarray, cams: np.ndarray, locals_: np.ndarray) -> None:
        """Forget the bindings of these observations' local tracks (after a split)."""
        for i in rows.tolist():
            if locals_[i] >= 0:
                self.links.pop((int(cams[i]), int(locals_[i])), None)

    def rebind(self, store: ClusterStore, from_slot: int, to_slot: int) -> None:
        """Local tracks bound to one cluster now belong to another (after a merge or re-link)."""
        old_cid, new_cid = int(store.cid[from_slot]), int(store.cid[to_slot])
        for key, (slot, cid, last) in list(self.links.items()):
            if slot == from_slot and cid == old_cid:
                self.links[key] = (to_slot, new_cid, last)
