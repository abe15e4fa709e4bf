"""The simple baseline of the benchmark: world-distance clustering + Hungarian frame-to-frame tracking.

No appearance, no single-camera track continuity, no refinement: per step, observations are
grouped across cameras by floor distance alone, group centroids are matched to tracks by
distance (constant-velocity prediction), and unmatched groups start tracks.
"""

from __future__ import annotations

import numpy as np

from mcpt.association.core import AssociatorStats, StepResult
from mcpt.association.grouping import group_observations
from mcpt.matching import linear_assignment, pairwise_distance
from mcpt.observation import ObservationBatch
from mcpt.timebase import DEFAULT_FPS, to_steps


class WorldDistanceBaseline:
    def __init__(
        self,
        fps: float = DEFAULT_FPS,
        cluster_m: float = 1.0,
        match_m: float = 1.0,
        confirm_s: float = 0.3,
        max_age_s: float = 1.0,
        min_score: float = 0.5,
    ) -> None:
        self.fps, self.cluster_m, self.match_m, self.min_score = fps, cluster_m, match_m, min_score
        self.min_hits, self.max_age = max(1, to_steps(confirm_s, fps)), to_steps(max_age_s, fps)
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.tid = np.zeros(0, np.int64)
        self.out = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.age = np.zeros(0, np.int64)
        self.next_tid = 1
        self.next_out_id = 1
        self.stats = AssociatorStats()

    def camera_offsets(self) -> list[tuple[int, float, float, int]]:
        return []  # positions as calibrated

    def update(self, batch: ObservationBatch) -> StepResult:
        n = len(batch)
        self.stats.steps += 1
        world = batch.world_xy
        usable = np.flatnonzero(np.all(np.isfinite(world), axis=1) & (batch.score >= self.min_score))
        groups = group_observations(
            batch.camera_id[usable],
            world[usable],
            np.zeros((len(usable), 1), np.float32),
            1.0,
            self.cluster_m,
            0.0,
            use_world=True,
            use_appearance=False,
        )
        centroids = np.array([world[usable[g]].mean(axis=0) for g in groups]).reshape(-1, 2)
        pred = self.pos + self.vel
        d = pairwise_distance(pred, centroids)
        m, un_t, un_g = linear_assignment(np.where(d <= self.match_m, d, np.inf), self.match_m)
        track_of_group = np.full(len(groups), -1)
        if len(m):
            t_idx, g_idx = m[:, 0], m[:, 1]
            self.vel[t_idx] = 0.7 * self.vel[t_idx] + 0.3 * (centroids[g_idx] - self.pos[t_idx])
            self.pos[t_idx] = centroids[g_idx]
            self.hits[t_idx] += 1
            self.age[t_idx] = 0
            track_of_group[g_idx] = t_idx
        self.age[un_t] += 1
        k = len(un_g)
        if k:
            base = len(self.tid)
            self.pos = np.concatenate([self.pos, centroids[un_g]])
            self.vel = np.concatenate([self.vel, np.zeros((k, 2))])
            self.tid = np.concatenate([self.tid, np.arange(self.next_tid, self.next_tid + k)])
            self.out = np.concatenate([self.out, np.full(k, -1)])
            self.hits = np.concatenate([self.hits, np.ones(k, np.int64)])
            self.age = np.concatenate([self.age, np.zeros(k, np.int64)])
            self.next_tid += k
            track_of_group[un_g] = base + np.arange(k)
        for t in np.flatnonzero((self.out < 0) & (self.hits >= self.min_hits)).tolist():
            self.out[t] = self.next_out_id
            self.next_out_id += 1
        gid = np.full(n, -1, np.int64)
        position = np.full((n, 2), np.nan)
        cluster = np.full(n, -1, np.int64)
        for g, t in zip(groups, track_of_group.tolist(), strict=True):
            rows = usable[g]
            cluster[rows] = self.tid[t]
            if self.out[t] >= 0:
                gid[rows] = self.out[t]
                position[rows] = self.pos[t]
        keep = self.age <= self.max_age
        for name in ("pos", "vel", "tid", "out", "hits", "age"):
            setattr(self, name, getattr(self, name)[keep])
        return StepResult(batch.step, gid, position, cluster, np.where(gid >= 0, 5, 0).astype(np.int8))
