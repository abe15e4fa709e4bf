"""How well embeddings keep people apart, measured on held-out tracklets (no labels needed).

* same person: cosine similarity of crops from the first half of a tracklet to crops from its
  second half (one person, later in time);
* different people: cosine similarity of crops of two tracklets seen together in one camera
  (a cannot-link: two people for sure);
* AUC: the chance that a same-person pair is more similar than a different-people pair (0.5: no
  separation, 1: complete);
* rank-1: each first-half crop's nearest second-half crop, among all held-out tracklets'
  second halves, belongs to its own tracklet. Other tracklets of its pseudo-identity (the same
  person in another camera, linked by the floor) are left out of its gallery: overlapping cameras
  see one person at once, and finding them is neither right nor wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Separation:
    same_mean: float
    different_mean: float
    auc: float
    rank1: float
    same_pairs: int
    different_pairs: int
    different_median: float  # cosine similarity of the median different-people pair

    @property
    def appearance_scale(self) -> float:
        """The association's appearance scale these embeddings call for (mcpt.models.reid_calibrate)."""
        from mcpt.models.reid_calibrate import scale_for_median

        return scale_for_median((1 - self.different_median) / 2)

    def line(self) -> str:
        return (
            f"same person {self.same_mean:.3f} vs different people {self.different_mean:.3f} mean cosine, "
            f"AUC {self.auc:.3f}, halves rank-1 {self.rank1:.3f} ({self.same_pairs} / {self.different_pairs} pairs)"
        )


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 0.5 P(pos == neg), by ranks (Mann-Whitney U)."""
    if not len(pos) or not len(neg):
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="stable")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    # average ranks of ties
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def halves_rank1(sim: np.ndarray, tracklet: np.ndarray, half: np.ndarray, group: np.ndarray) -> float:
    """Share of first-half crops whose most similar second-half crop is of their own tracklet, the
    other tracklets of their group left out."""
    q, g = np.flatnonzero(half == 0), np.flatnonzero(half == 1)
    if not len(q) or not len(g):
        return float("nan")
    s = sim[np.ix_(q, g)].copy()
    s[(group[q][:, None] == group[g][None, :]) & (tracklet[q][:, None] != tracklet[g][None, :])] = -np.inf
    return float(np.mean(tracklet[g][np.argmax(s, axis=1)] == tracklet[q]))


def separation(
    emb: np.ndarray,
    tracklet: np.ndarray,
    half: np.ndarray,
    cannot: list[tuple[int, int]],
    group: np.ndarray | None = None,
) -> Separation:
    """``emb`` (N, D) L2-normalised crops of held-out tracklets; ``tracklet`` (N,) their tracklet;
    ``half`` (N,) 0 for the first half of the tracklet, 1 for the second; ``cannot``: pairs of
    tracklets seen together in one camera; ``group`` (N,) their pseudo-identity (default: the
    tracklet itself)."""
    sim = emb @ emb.T
    same = []
    for t in np.unique(tracklet).tolist():
        a, b = np.flatnonzero((tracklet == t) & (half == 0)), np.flatnonzero((tracklet == t) & (half == 1))
        same.append(sim[np.ix_(a, b)].ravel())
    diff = []
    for i, j in cannot:
        a, b = np.flatnonzero(tracklet == i), np.flatnonzero(tracklet == j)
        if len(a) and len(b):
            diff.append(sim[np.ix_(a, b)].ravel())
    same_v = np.concatenate(same) if same else np.zeros(0)
    diff_v = np.concatenate(diff) if diff else np.zeros(0)
    rank1 = halves_rank1(sim, tracklet, half, tracklet if group is None else group)
    return Separation(
        float(same_v.mean()) if len(same_v) else float("nan"),
        float(diff_v.mean()) if len(diff_v) else float("nan"),
        auc(same_v, diff_v),
        rank1,
        len(same_v),
        len(diff_v),
        float(np.median(diff_v)) if len(diff_v) else float("nan"),
    )
