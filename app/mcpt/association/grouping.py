"""Cross-camera grouping of one time step's observations (the per-frame clustering step).

Pairs of observations from different cameras are costed by (1 - r) x world distance +
r x appearance distance, each normalised by its gate, and pairs outside either gate are never
joined. Groups grow greedily from the cheapest pair, with two constraints that a person
satisfies: at most one observation per camera, and every pair inside a group within the gates
(complete linkage). The result is deterministic for a given input.
"""

from __future__ import annotations

import numpy as np

from mcpt.matching import cosine_half_distance, pairwise_distance


def pair_costs(
    world: np.ndarray,
    feats: np.ndarray,
    emb_thresh: float,
    euc_thresh: float,
    ratio: float,
    use_world: bool = True,
    use_appearance: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(cost, allowed) matrices between observations; ``allowed`` applies the gates."""
    n = len(world)
    allowed = np.ones((n, n), bool)
    terms = []
    if use_world:
        dist = pairwise_distance(world, world)
        dist = np.where(np.isfinite(dist), dist, np.inf)
        allowed &= dist <= euc_thresh
        terms.append(((1.0 - ratio) if use_appearance else 1.0, np.minimum(dist / euc_thresh, 1.0)))
    if use_appearance:
        app = cosine_half_distance(feats, feats)
        allowed &= app <= emb_thresh
        terms.append((ratio if use_world else 1.0, np.minimum(app / emb_thresh, 1.0)))
    cost = sum(w * t for w, t in terms) if terms else np.zeros((n, n))
    return cost, allowed


def group_observations(
    cameras: np.ndarray,
    world: np.ndarray,
    feats: np.ndarray,
    emb_thresh: float,
    euc_thresh: float,
    ratio: float,
    use_world: bool = True,
    use_appearance: bool = True,
) -> list[np.ndarray]:
    """Groups (arrays of row indices) covering every observation; singletons included."""
    n = len(cameras)
    if n == 0:
        return []
    if n == 1 or not (use_world or use_appearance):
        return [np.array([i]) for i in range(n)]
    cost, allowed = pair_costs(world, feats, emb_thresh, euc_thresh, ratio, use_world, use_appearance)
    allowed &= cameras[:, None] != cameras[None, :]
    iu, ju = np.nonzero(np.triu(allowed, k=1))
    order = np.lexsort((ju, iu, cost[iu, ju]))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    root = list(range(n))
    cams: dict[int, set[int]] = {i: {int(cameras[i])} for i in range(n)}
    for k in order:
        a, b = root[iu[k]], root[ju[k]]
        if a == b or cams[a] & cams[b]:
            continue
        ma, mb = members[a], members[b]
        if not allowed[np.ix_(ma, mb)].all():
            continue
        keep, gone = (a, b) if a < b else (b, a)
        members[keep] = sorted(ma + mb)
        cams[keep] |= cams[gone]
        for i in members[gone]:
            root[i] = keep
        del members[gone], cams[gone]
    return [np.array(members[r]) for r in sorted(members)]
