"""Where each global id was on the floor, over time, as trail pieces broken where it was not seen."""

from __future__ import annotations

import bisect
from collections import defaultdict

import numpy as np


def split_at_gaps(txy: np.ndarray, max_gap_s: float, max_jump_m: float) -> list[np.ndarray]:
    """(N, 3) rows of (t, x, y) in time order -> pieces, cut where the id was unseen for more than
    ``max_gap_s`` or moved more than ``max_jump_m`` between consecutive sightings.

    A straight line across such a gap would draw a walk that never happened (a re-identified
    person "teleports" across the room).
    """
    if len(txy) < 2:
        return [txy] if len(txy) else []
    dt = np.diff(txy[:, 0])
    step = np.linalg.norm(np.diff(txy[:, 1:], axis=0), axis=1)
    cuts = np.flatnonzero((dt > max_gap_s) | (step > max_jump_m)) + 1
    return np.split(txy, cuts)


class Trails:
    """Every floor sighting of every confirmed global id, in time order."""

    def __init__(self, max_gap_s: float = 1.0, max_jump_m: float = 2.0) -> None:
        self.max_gap_s = max_gap_s
        self.max_jump_m = max_jump_m
        self._t: dict[int, list[float]] = defaultdict(list)
        self._xy: dict[int, list[tuple[float, float]]] = defaultdict(list)

    def add(self, time_s: float, gid: int, xy) -> None:
        self._t[gid].append(float(time_s))
        self._xy[gid].append((float(xy[0]), float(xy[1])))

    def ids(self) -> list[int]:
        return sorted(self._t)

    def last_seen(self, gid: int) -> float:
        return self._t[gid][-1] if self._t.get(gid) else float("-inf")

    def points(self) -> np.ndarray:
        """(N, 2) every sighting of every id."""
        xy = [p for pts in self._xy.values() for p in pts]
        return np.array(xy, np.float64).reshape(-1, 2)

    def pieces(self, gid: int, since: float = float("-inf")) -> list[np.ndarray]:
        """The id's trail from ``since`` on, as (k, 3) (t, x, y) pieces broken at gaps."""
        ts = self._t.get(gid, [])
        i = bisect.bisect_left(ts, since)
        if i >= len(ts):
            return []
        txy = np.column_stack([np.array(ts[i:]), np.array(self._xy[gid][i:])])
        return split_at_gaps(txy, self.max_gap_s, self.max_jump_m)
