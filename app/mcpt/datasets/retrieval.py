"""Re-identification scores on a query/gallery split: CMC rank-k and mean average precision.

Market-1501's protocol: for each query, gallery crops of the same person in the same camera are
left out (finding someone again in the view they were just seen in is not re-identification), and
a query whose person has no crop left in the gallery does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RetrievalScores:
    rank1: float
    rank5: float
    mean_ap: float
    queries: int  # queries that counted (their person is in the gallery from another camera)

    def line(self) -> str:
        return f"rank-1 {self.rank1:.3f}, rank-5 {self.rank5:.3f}, mAP {self.mean_ap:.3f} ({self.queries} queries)"


def retrieval_scores(
    query: np.ndarray,
    query_ids: np.ndarray,
    query_cams: np.ndarray,
    gallery: np.ndarray,
    gallery_ids: np.ndarray,
    gallery_cams: np.ndarray,
    cross_camera_only: bool = True,
) -> RetrievalScores:
    """Scores of L2-normalised embeddings ranked by cosine similarity; ``cross_camera_only=False``
    keeps same-camera matches (finding a tracklet's later half again)."""
    sim = np.asarray(query, np.float64) @ np.asarray(gallery, np.float64).T
    hits1 = hits5 = 0
    aps = []
    for i in range(len(query)):
        keep = np.ones(len(gallery_ids), bool)
        if cross_camera_only:
            keep = ~((gallery_ids == query_ids[i]) & (gallery_cams == query_cams[i]))
        match = (gallery_ids[keep] == query_ids[i])[np.argsort(-sim[i, keep], kind="stable")]
        if not match.any():
            continue
        first = int(np.argmax(match))
        hits1 += first < 1
        hits5 += first < 5
        ranks = np.flatnonzero(match) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    n = len(aps)
    if n == 0:
        return RetrievalScores(0.0, 0.0, 0.0, 0)
    return RetrievalScores(hits1 / n, hits5 / n, float(np.mean(aps)), n)
