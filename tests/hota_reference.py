"""An independent HOTA on AIC24 files, written from the paper's definitions (Luiten et al., IJCV 2021).

Plain Python over dictionaries; shares no code with mcpt.evaluation or TrackEval. Matching per
frame and alpha maximises alignment-weighted similarity among pairs with similarity >= alpha.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHAS = [0.05 * k for k in range(1, 20)]


def read_positions(path):
    """frame -> {id: (x, y)} with the mean over cameras of each id's rows."""
    acc = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 9:
                continue
            frame, obj = int(float(parts[2])), int(float(parts[1]))
            acc[frame][obj].append((float(parts[7]), float(parts[8])))
    return {
        fr: {o: (sum(p[0] for p in ps) / len(ps), sum(p[1] for p in ps) / len(ps)) for o, ps in ids.items()}
        for fr, ids in acc.items()
    }


def hota(gt_path, pred_path, tau=1.0):
    gt, pred = read_positions(gt_path), read_positions(pred_path)
    frames = sorted(set(gt) | set(pred))
    sims = {}
    for fr in frames:
        g, p = gt.get(fr, {}), pred.get(fr, {})
        sims[fr] = {(a, b): max(0.0, 1.0 - math.dist(g[a], p[b]) / tau) for a in g for b in p}
    # global alignment between ids from soft (similarity-IoU weighted) co-occurrences
    gcount, pcount, pot = defaultdict(int), defaultdict(int), defaultdict(float)
    for fr in frames:
        g, p = gt.get(fr, {}), pred.get(fr, {})
        for a in g:
            gcount[a] += 1
        for b in p:
            pcount[b] += 1
        row = {a: sum(sims[fr][(a, b)] for b in p) for a in g}
        col = {b: sum(sims[fr][(a, b)] for a in g) for b in p}
        for (a, b), s in sims[fr].items():
            denom = row[a] + col[b] - s
            if denom > 1e-12:
                pot[(a, b)] += s / denom
    align = {k: v / (gcount[k[0]] + pcount[k[1]] - v) for k, v in pot.items()}
    out = {"HOTA": [], "DetA": [], "AssA": [], "LocA": []}
    for alpha in ALPHAS:
        tp = fn = fp = 0
        loc = 0.0
        pair_tp = defaultdict(int)
        matched_pairs = []
        for fr in frames:
            g, p = list(gt.get(fr, {})), list(pred.get(fr, {}))
            if g and p:
                score = np.array(
                    [
                        [
                            align.get((a, b), 0.0) * sims[fr][(a, b)] if sims[fr][(a, b)] >= alpha - 1e-12 else -1.0
                            for b in p
                        ]
                        for a in g
                    ]
                )
                rows, cols = linear_sum_assignment(-score)
                m = [
                    (g[r], p[c])
                    for r, c in zip(rows, cols, strict=False)
                    if score[r, c] >= 0 and sims[fr][(g[r], p[c])] > 0
                ]
            else:
                m = []
            tp += len(m)
            fn += len(g) - len(m)
            fp += len(p) - len(m)
            for a, b in m:
                loc += sims[fr][(a, b)]
                pair_tp[(a, b)] += 1
                matched_pairs.append((a, b))
        det_a = tp / max(1, tp + fn + fp)
        ass_a = sum(pair_tp[(a, b)] / (gcount[a] + pcount[b] - pair_tp[(a, b)]) for a, b in matched_pairs) / max(1, tp)
        out["DetA"].append(det_a)
        out["AssA"].append(ass_a)
        out["HOTA"].append(math.sqrt(det_a * ass_a))
        out["LocA"].append(loc / tp if tp else 1.0)
    return {k: sum(v) / len(v) for k, v in out.items()}
