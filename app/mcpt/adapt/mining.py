"""Pseudo-identities from single-camera tracklets, with the constraints a site's geometry gives.

1. Tracklets: the single-camera tracker's local tracks, kept where the detector was confident
   (score >= the tracker's high threshold, tall enough, inside the image) for long enough.
2. Cannot-link: two tracklets seen on one frame of one camera are two people.
3. Must-link: two tracklets of different cameras whose floor positions agree at the same times
   (median distance under ``max_link_m`` over at least ``min_overlap`` common steps), each the
   other's best match in its camera: one person seen where views overlap.
4. Pseudo-identities: must-links merged closest first (union-find), a merge refused when it would
   join two tracklets of one camera that overlap in time (a cannot-link) or put two tracklets of
   one camera into one identity at all (within a camera the tracker already links what it can).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MiningOptions:
    min_score: float | None = None  # None: the tracker's high threshold for the detector in use
    min_height: float = 48.0  # px: smaller crops hold too little of a person to learn from
    min_steps: int = 10  # confident detections a tracklet needs
    max_link_m: float = 0.6  # floor distance under which two cameras see one person
    min_overlap: int = 5  # common steps a must-link needs
    edge_px: float = 4.0  # boxes this close to the image border are cut


@dataclass
class Tracklet:
    camera: int
    local_id: int
    step: np.ndarray  # (n,) processing steps (the common clock of all cameras)
    frame: np.ndarray  # (n,) source frame numbers of this camera
    box: np.ndarray  # (n, 4) x y w h
    score: np.ndarray  # (n,)
    world: np.ndarray  # (n, 2) floor metres (NaN: unknown)
    embedding: np.ndarray | None = None  # (n, D) float16, where the collector kept them

    def __len__(self) -> int:
        return len(self.step)


@dataclass
class Mined:
    tracklets: list[Tracklet]
    cannot: set[tuple[int, int]] = field(default_factory=set)
    must: list[tuple[int, int, float]] = field(default_factory=list)  # (i, j, median metres)
    identity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per tracklet

    @property
    def identities(self) -> int:
        return len(np.unique(self.identity))

    def cross_camera_identities(self) -> int:
        cams = defaultdict(set)
        for t, ident in zip(self.tracklets, self.identity.tolist(), strict=True):
            cams[ident].add(t.camera)
        return sum(1 for c in cams.values() if len(c) > 1)


class TrackletCollector:
    """Gathers the tracked rows of ObservationBatches into per-(camera, local id) tracklets (and their
    embeddings, in half precision, with ``embeddings=True``)."""

    def __init__(self, embeddings: bool = False) -> None:
        self.rows: dict[tuple[int, int], list] = defaultdict(list)
        self.embeddings: dict[tuple[int, int], list] | None = defaultdict(list) if embeddings else None

    def add(self, batch) -> None:
        for i in np.flatnonzero(batch.local_track_id >= 0).tolist():
            key = (int(batch.camera_id[i]), int(batch.local_track_id[i]))
            self.rows[key].append(
                (batch.step, int(batch.frame_id[i]), *batch.bbox[i].tolist(), float(batch.score[i]),
                 *batch.world_xy[i].tolist())
            )  # fmt: skip
            if self.embeddings is not None:
                self.embeddings[key].append(batch.embedding[i].astype(np.float16))

    def tracklets(self) -> list[Tracklet]:
        out = []
        for key, rows in sorted(self.rows.items()):
            a = np.array(rows, np.float64)
            emb = np.stack(self.embeddings[key]) if self.embeddings is not None else None
            out.append(
                Tracklet(*key, a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6], a[:, 6], a[:, 7:9], emb)
            )
        return out


def confident(tracklets: list[Tracklet], sizes: dict[int, tuple[int, int]], opts: MiningOptions) -> list[Tracklet]:
    """Each tracklet cut to its confident, whole, tall-enough detections; those with too few dropped."""
    out = []
    for t in tracklets:
        w, h = sizes[t.camera]
        b = t.box
        inside = (
            (b[:, 0] >= opts.edge_px)
            & (b[:, 1] >= opts.edge_px)
            & (b[:, 0] + b[:, 2] <= w - opts.edge_px)
            & (b[:, 1] + b[:, 3] <= h - opts.edge_px)
        )
        keep = (t.score >= (0.3 if opts.min_score is None else opts.min_score)) & (b[:, 3] >= opts.min_height) & inside
        if keep.sum() >= opts.min_steps:
            emb = t.embedding[keep] if t.embedding is not None else None
            out.append(
                Tracklet(t.camera, t.local_id, t.step[keep], t.frame[keep], b[keep], t.score[keep], t.world[keep], emb)
            )
    return out


def cannot_links(tracklets: list[Tracklet]) -> set[tuple[int, int]]:
    pairs = set()
    by_cam = defaultdict(list)
    for i, t in enumerate(tracklets):
        by_cam[t.camera].append(i)
    for idx in by_cam.values():
        for a_pos, i in enumerate(idx):
            for j in idx[a_pos + 1 :]:
                if np.intersect1d(tracklets[i].step, tracklets[j].step, assume_unique=True).size:
                    pairs.add((i, j))
    return pairs


def must_links(tracklets: list[Tracklet], opts: MiningOptions) -> list[tuple[int, int, float]]:
    """Mutual-best cross-camera pairs at one floor position at the same times."""
    best: dict[tuple[int, int], tuple[float, int]] = {}  # (tracklet, other camera) -> (distance, other)
    cand = []
    for i, a in enumerate(tracklets):
        for j in range(i + 1, len(tracklets)):
            b = tracklets[j]
            if a.camera == b.camera or a.step[-1] < b.step[0] or b.step[-1] < a.step[0]:
                continue
            common, ia, ib = np.intersect1d(a.step, b.step, assume_unique=True, return_indices=True)
            if len(common) < opts.min_overlap:
                continue
            d = np.linalg.norm(a.world[ia] - b.world[ib], axis=1)
            d = d[np.isfinite(d)]
            if len(d) < opts.min_overlap:
                continue
            med = float(np.median(d))
            if med > opts.max_link_m:
                continue
            cand.append((i, j, med))
            for x, y in ((i, j), (j, i)):
                key = (x, tracklets[y].camera)
                if key not in best or med < best[key][0]:
                    best[key] = (med, y)
    return [
        (i, j, m)
        for i, j, m in cand
        if best[(i, tracklets[j].camera)][1] == j and best[(j, tracklets[i].camera)][1] == i
    ]


def pseudo_identities(tracklets: list[Tracklet], must: list[tuple[int, int, float]]) -> np.ndarray:
    parent = list(range(len(tracklets)))
    cams = [{t.camera} for t in tracklets]

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in sorted(must, key=lambda e: e[2]):
        ri, rj = root(i), root(j)
        if ri == rj or cams[ri] & cams[rj]:
            continue  # one identity holds at most one tracklet per camera
        parent[rj] = ri
        cams[ri] |= cams[rj]
    roots = [root(i) for i in range(len(tracklets))]
    _, ident = np.unique(roots, return_inverse=True)
    return ident.astype(np.int64)


def mine(tracklets: list[Tracklet], sizes: dict[int, tuple[int, int]], opts: MiningOptions) -> Mined:
    kept = confident(tracklets, sizes, opts)
    must = must_links(kept, opts)
    return Mined(kept, cannot_links(kept), must, pseudo_identities(kept, must))
