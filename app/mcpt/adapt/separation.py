"""How well embeddings keep people apart, measured on held-out tracklets (no labels needed).

* same person: cosine similarity of crops from the first half of a tracklet to crops from its
  second half (one person, later in time);
* different people: cosine similarity of crops of two tracklets seen together in one camera
  (a cannot-link: two people for sure);
* AUC: the chance that a same-person pair is more similar than a different-people pair (0.5: no
  separation, 1: complete);
* rank-1: each first-half crop's nearest second-half crop, among all held-out tracklets'
  second halves, belongs to its own tracklet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcpt.datasets.retrieval import retrieval_scores


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


def separation(emb: np.ndarray, tracklet: np.ndarray, half: np.ndarray, cannot: list[tuple[int, int]]) -> Separation:
    """``emb`` (N, D) L2-normalised crops of held-out tracklets; ``tracklet`` (N,) their tracklet;
    ``half`` (N,) 0 for the first half of the tracklet, 1 for the second; ``cannot``: pairs of
    tracklets seen together in one camera."""
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
    q, g = half == 0, half == 1
    zeros = np.zeros(len(emb), np.int64)
    r = retrieval_scores(emb[q], tracklet[q], zeros[q], emb[g], tracklet[g], zeros[g], cross_camera_only=False)
    return Separation(
        float(same_v.mean()) if len(same_v) else float("nan"),
        float(diff_v.mean()) if len(diff_v) else float("nan"),
        auc(same_v, diff_v),
        r.rank1,
        len(same_v),
        len(diff_v),
        float(np.median(diff_v)) if len(diff_v) else float("nan"),
    )
