"""How rows become the per-frame points TrackEval's HOTA scores, and how scenes combine: one class per protocol.

* ``Aic24`` (the default) is NVIDIA's published AIC24 Track 1 evaluator point by point
  (shared/notes/aic24-eval.md): the scene's cameras only, world x/y rounded to the millimetre,
  the first row of each (frame, id) in file order, similarity max(0, 1 - d / 2 m) with d by direct
  subtraction, predictions on frames without ground truth counted as false positives, each
  scene the mean over TrackEval's 19 alphas, the headline the unweighted mean over scenes.
* ``MeanPositions`` is mcpt's earlier protocol: an identity's position at a frame is the mean of
  its rows over cameras, similarity max(0, 1 - d / tau), scenes combined as TrackEval combines
  sequences (one long sequence).

Both hand TrackEval's HOTA class the same data dict; HOTA itself is never reimplemented.
"""

from __future__ import annotations

import numpy as np

from mcpt.evaluation.trackeval_bridge import group_by_frame, sequence_data, trackeval_classes
from mcpt.scene.results import Rows

HOTA_FIELDS = ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr")
HEADLINE_FIELDS = ("HOTA", "DetA", "AssA", "LocA")


def _sequence(gt: tuple, pred: tuple, similarity) -> dict:
    """TrackEval's data dict from (frame, id, xy) of both sides over the union of their frames."""
    frames = np.unique(np.concatenate([gt[0], pred[0]]).astype(np.int64))
    return sequence_data(group_by_frame(*gt, frames), group_by_frame(*pred, frames), similarity)


def summarize_hota(res: dict) -> dict[str, float]:
    """Scalar summary of one TrackEval HOTA result: each field averaged over its alpha thresholds."""
    return {k: float(np.mean(res[k])) for k in HOTA_FIELDS}


class Aic24:
    name = "aic24"
    zero_distance_m = 2.0  # TrackEval's _calculate_euclidean_similarity default, as the official kit uses it

    def describe(self) -> str:
        return "official AIC24 protocol: first row per (frame, id), mm rounding, similarity 1 - d / 2 m"

    @staticmethod
    def points(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frame, id, xy): world rounded to mm, then the first row of each (frame, id) in file order."""
        xy = np.round(rows.world, 3)
        if not len(rows):
            return rows.frame, rows.obj, xy
        _, first = np.unique(np.stack([rows.frame, rows.obj], axis=1), axis=0, return_index=True)
        first = np.sort(first)
        return rows.frame[first], rows.obj[first], xy[first]

    def similarity(self, g: np.ndarray, p: np.ndarray) -> np.ndarray:
        # direct subtraction, as TrackEval does: mm coordinates often put a distance exactly on an
        # alpha boundary, where another formula (a Gram matrix) flips the match
        dist = np.linalg.norm(g[:, np.newaxis] - p[np.newaxis, :], axis=2)
        return np.maximum(0, 1 - dist / self.zero_distance_m)

    def sequence(self, gt: Rows, pred: Rows) -> dict:
        return _sequence(self.points(gt), self.points(pred), self.similarity)

    def combine(self, results: dict[str, dict]) -> dict[str, float]:
        """The unweighted mean over scenes of each scene's (alpha-averaged) values; every scene counts."""
        per_scene = [summarize_hota(r) for r in results.values()]
        return {k: float(np.mean([s[k] for s in per_scene])) for k in HOTA_FIELDS}


class MeanPositions:
    name = "mean"

    def __init__(self, tau_m: float = 1.0) -> None:
        self.zero_distance_m = tau_m  # tau: the distance at which similarity reaches 0

    def describe(self) -> str:
        return f"mean protocol: mean of an identity's rows over cameras, similarity 1 - d / {self.zero_distance_m:g} m"

    @staticmethod
    def points(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frame, id, xy): per (frame, identity), the mean world position over its rows."""
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2))
        keys = np.stack([rows.frame, rows.obj], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.ravel()
        counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
        pos = np.stack([np.bincount(inv, rows.world[:, k], minlength=len(uniq)) for k in range(2)], axis=1)
        return uniq[:, 0], uniq[:, 1], pos / counts[:, None]

    def similarity(self, g: np.ndarray, p: np.ndarray) -> np.ndarray:
        from scipy.spatial.distance import cdist

        if not len(g) or not len(p):
            return np.zeros((len(g), len(p)))
        return np.maximum(0.0, 1.0 - cdist(g, p) / self.zero_distance_m)

    def sequence(self, gt: Rows, pred: Rows) -> dict:
        return _sequence(self.points(gt), self.points(pred), self.similarity)

    def combine(self, results: dict[str, dict]) -> dict[str, float]:
        """As TrackEval combines sequences: counts summed over scenes (detection-weighted)."""
        hota_cls = trackeval_classes()[0]
        return summarize_hota(hota_cls().combine_sequences(results))


PROTOCOLS = ("aic24", "mean")


def make_protocol(name: str = "aic24", tau_m: float | None = None) -> Aic24 | MeanPositions:
    if name == "aic24":
        return Aic24()
    if name == "mean":
        return MeanPositions(1.0 if tau_m is None else tau_m)
    raise ValueError(f"unknown protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
