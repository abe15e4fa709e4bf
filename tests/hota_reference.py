"""An independent HOTA on AIC24 files, written from the paper's definitions (Luiten et al., IJCV 2021).

Plain Python over dictionaries; shares no code with mcpt.evaluation or TrackEval. Per frame one
matching maximises the alignment-weighted similarity; each alpha counts the matched pairs whose
similarity reaches it (TrackEval's HOTA, which the AIC24 kit uses, matches this way).
Two ways to read positions: ``read_positions`` (mcpt's mean protocol) and ``read_first_rows``
(the official AIC24 evaluator, as shared/notes/aic24-eval.md describes it); ``aic24`` is the
official headline over scenes.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHAS = [0.05 * k for k in range(1, 20)]
EPS = 2.220446049250313e-16  # one ulp at 1.0: the tolerance of "at or above alpha"


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


def read_first_rows(path, cameras=None):
    """frame -> {id: (x, y)}: the rows of ``cameras`` only, x/y rounded to mm the way numpy/pandas round
    (x 1000, round half to even, / 1000), and of each (frame, id) the first row in file order."""
    out = defaultdict(dict)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 9:
                continue
            cam, obj, frame = (int(float(v)) for v in parts[:3])
            if cameras is not None and cam not in cameras:
                continue
            if obj not in out[frame]:
                out[frame][obj] = (round(float(parts[7]) * 1000) / 1000, round(float(parts[8]) * 1000) / 1000)
    return dict(out)


def official_similarity(a, b):
    dx, dy = a[0] - b[0], a[1] - b[1]
    return max(0.0, 1.0 - math.sqrt(dx * dx + dy * dy) / 2.0)


def aic24(scenes):
    """The official headline: scenes = [(gt_path, pred_path, cameras or None)], the unweighted mean of
    each scene's alpha-averaged values; a scene without predictions scores 0 (LocA 1)."""
    per = []
    for gt_path, pred_path, cameras in scenes:
        gt = read_first_rows(gt_path, cameras)
        pred = read_first_rows(pred_path, cameras) if pred_path else {}
        per.append(hota_of(gt, pred, official_similarity))
    return {k: sum(p[k] for p in per) / len(per) for k in per[0]}


def hota(gt_path, pred_path, tau=1.0):
    """The mean protocol: mean position over cameras, similarity 1 - d / tau."""
    return hota_of(
        read_positions(gt_path), read_positions(pred_path), lambda a, b: max(0.0, 1.0 - math.dist(a, b) / tau)
    )


def hota_of(gt, pred, similarity):
    if not any(gt.values()) or not any(pred.values()):
        return {"HOTA": 0.0, "DetA": 0.0, "AssA": 0.0, "LocA": 1.0}
    frames = sorted(set(gt) | set(pred))
    sims = {}
    for fr in frames:
        g, p = gt.get(fr, {}), pred.get(fr, {})
        sims[fr] = {(a, b): similarity(g[a], p[b]) for a in g for b in p}
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
    # one matching per frame, maximising the alignment-weighted similarity (as the AIC24 kit's
    # TrackEval does); each alpha then counts the matched pairs at least that similar
    matches = {}
    for fr in frames:
        g, p = list(gt.get(fr, {})), list(pred.get(fr, {}))
        if g and p:
            score = np.array([[align.get((a, b), 0.0) * sims[fr][(a, b)] for b in p] for a in g])
            rows, cols = linear_sum_assignment(-score)
            matches[fr] = [(g[r], p[c]) for r, c in zip(rows, cols, strict=False)]
        else:
            matches[fr] = []
    out = {"HOTA": [], "DetA": [], "AssA": [], "LocA": []}
    for alpha in ALPHAS:
        tp = fn = fp = 0
        loc = 0.0
        pair_tp = defaultdict(int)
        matched_pairs = []
        for fr in frames:
            g, p = gt.get(fr, {}), pred.get(fr, {})
            m = [(a, b) for a, b in matches[fr] if sims[fr][(a, b)] >= alpha - EPS]
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
