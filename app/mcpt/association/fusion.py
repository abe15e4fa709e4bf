"""Fusing a cluster's floor points from several cameras into one measurement, for all clusters at once."""

from __future__ import annotations

import numpy as np


def group_median(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per group 0..k-1, the (lower) median of ``values``; NaN for empty groups."""
    out = np.full(k, np.nan)
    if not len(group):
        return out
    order = np.lexsort((values, group))
    g_sorted = group[order]
    starts = np.searchsorted(g_sorted, np.arange(k), side="left")
    counts = np.bincount(group, minlength=k)
    has = counts > 0
    out[has] = values[order][starts[has] + (counts[has] - 1) // 2]
    return out


def fuse_positions(
    group: np.ndarray, pts: np.ndarray, std: np.ndarray, pred: np.ndarray, has_pred: np.ndarray, outlier_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance mean of each group's points after outlier rejection; and its variance.

    With three or more points, those farther than ``outlier_m`` from the group's median are
    dropped (the nearest is kept if all are); with two that disagree by more than that, the one
    nearer the motion model's prediction is kept. Groups without points get NaN.
    """
    k = len(pred)
    meas = np.full((k, 2), np.nan)
    var = np.full(k, np.nan)
    if not len(group):
        return meas, var
    w = 1.0 / np.maximum(std, 1e-3) ** 2
    counts = np.bincount(group, minlength=k)
    med = np.stack([group_median(group, pts[:, 0], k), group_median(group, pts[:, 1], k)], axis=1)
    dist = np.linalg.norm(pts - med[group], axis=1)
    keep = (counts[group] < 3) | (dist <= outlier_m)
    # three or more points, all outliers: keep the one nearest the median
    none_kept = np.bincount(group, weights=keep.astype(float), minlength=k) == 0
    if none_kept.any():
        cand = none_kept[group]
        best = np.full(k, np.inf)
        np.minimum.at(best, group[cand], dist[cand])
        keep |= cand & (dist == best[group])
    # two points that disagree: trust the one nearer the prediction
    two = counts[group] == 2
    if two.any():
        spread = np.zeros(k)
        lo = np.full((k, 2), np.inf)
        hi = np.full((k, 2), -np.inf)
        np.minimum.at(lo, group[two], pts[two])
        np.maximum.at(hi, group[two], pts[two])
        spread = np.linalg.norm(np.where(np.isfinite(hi - lo), hi - lo, 0.0), axis=1)
        disagree = two & (spread[group] > outlier_m) & has_pred[group]
        if disagree.any():
            d_pred = np.linalg.norm(pts - pred[group], axis=1)
            nearest = np.full(k, np.inf)
            np.minimum.at(nearest, group[disagree], d_pred[disagree])
            keep[disagree] = d_pred[disagree] == nearest[group[disagree]]
    wk = np.where(keep, w, 0.0)
    total = np.bincount(group, weights=wk, minlength=k)
    has = total > 0
    for c in range(2):
        meas[has, c] = np.bincount(group, weights=wk * pts[:, c], minlength=k)[has] / total[has]
    var[has] = 1.0 / total[has]
    return meas, var
