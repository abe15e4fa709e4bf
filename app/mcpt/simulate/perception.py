"""Simulated perception: ground-truth boxes per camera and what a detector + ReID model would output.

Detections carry realistic faults: box jitter, misses that grow with occlusion (and come in
bursts), false positives with random embeddings, occluded people merged into their occluder's
box, and bursts of unannotated static "people" (posters, a crowd behind glass) in one view.
Embeddings are identity prototype + shared offset + camera bias + viewpoint + noise, mixed with
the occluder's appearance when occluded; some identities are look-alikes of others.
On a site (``SiteParams``) also: mannequins every camera of their room detects in every frame (the
same look each time), desks that cut the boxes of people standing at them, and uniforms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from mcpt.simulate.cameras import PinholeCamera
from mcpt.simulate.keypoint_view import KeypointView, template_keypoints
from mcpt.simulate.occluders import hidden_below, place_shelves
from mcpt.simulate.params import PerceptionParams, SiteParams
from mcpt.simulate.skeleton import Gait
from mcpt.simulate.world import Population

FP_ID = -1  # a false positive
CROWD_ID = -2  # an unannotated person of a crowd burst
_CYLINDER_ANGLES = np.linspace(0, 2 * np.pi, 8, endpoint=False)
MIN_VISIBLE_FRACTION = 0.3
FOOT_RADIUS_M = 0.12  # the feet's footprint: the box bottom is its point nearest the camera
MAX_GT_OCCLUSION = 0.9
BURST_S = 0.1  # the time over which ``miss_burstiness`` is the correlation of detectability


@dataclass
class CameraFrame:
    camera_id: int
    frame: int
    gt_ids: np.ndarray  # (n,)
    gt_box: np.ndarray  # (n, 4) x y w h, clipped to the image
    gt_world: np.ndarray  # (n, 2) true floor position
    gt_occlusion: np.ndarray  # (n,)
    det_box: np.ndarray  # (m, 4)
    det_score: np.ndarray  # (m,)
    det_embedding: np.ndarray  # (m, D) float32, unit norm
    det_gt: np.ndarray  # (m,) identity, FP_ID or CROWD_ID
    det_keypoints: np.ndarray  # (m, 17, 3) float32 COCO-17 x y confidence, as a top-down pose model gives them
    draw_ids: np.ndarray  # identities to draw (unclipped boxes), far to near
    draw_box: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _overlap_fraction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m): fraction of each box in ``a`` covered by each box in ``b`` (x y w h)."""
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    wh = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None)
    return wh[..., 0] * wh[..., 1] / np.maximum(a[:, 2] * a[:, 3], 1e-9)[:, None]


class PerceptionModel:
    def __init__(
        self,
        params: PerceptionParams,
        population: Population,
        cameras: list[PinholeCamera],
        rng: np.random.Generator,
        fps: float,
        site: SiteParams | None = None,
        pose_rng: np.random.Generator | None = None,
    ) -> None:
        self.p = params
        self.site = site
        self.pop = population
        self.cameras = cameras
        self.rng = rng
        self.fps = fps
        d = params.embedding_dim
        n_ids = population.num_identities
        self.common = _unit(rng.normal(size=d))
        protos = _unit(rng.normal(size=(n_ids, d)))
        self.lookalike_of = np.full(n_ids, -1)
        for i in range(1, n_ids):
            if rng.random() < params.lookalike_share:
                j = int(rng.integers(i))
                s = params.lookalike_similarity
                ortho = _unit(protos[i] - (protos[i] @ protos[j]) * protos[j])
                protos[i] = _unit(s * protos[j] + np.sqrt(1 - s * s) * ortho)
                self.lookalike_of[i] = j
        self.uniform_of = np.full(n_ids, -1)
        self.mannequin_xy = np.zeros((0, 2))
        self.desks = np.zeros((0, 4))  # x0 y0 x1 y1 on the floor
        self.cam_room = np.full(len(cameras), -1)  # a site's walls: a camera sees its own room only
        if site is not None:
            self._site_objects(site, protos)
            self.cam_room = np.array([population.floor.room_of(c.centre[:2]) for c in cameras])
        self.prototypes = protos
        scale = 1.0 / np.sqrt(d)
        self.camera_bias = rng.normal(scale=scale, size=(len(cameras), d)) * params.camera_bias
        self.view_bias = rng.normal(scale=scale, size=(n_ids, len(cameras), d)) * params.view_bias
        self.latent = rng.normal(size=(n_ids, len(cameras)))
        self.crowds: list[list[tuple[int, np.ndarray, np.ndarray]]] = [[] for _ in cameras]
        # keypoints and shelves draw from their own stream: the detections stay those of the same seed
        # without them
        self.pose_rng = pose_rng or np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
        self.gait = Gait(n_ids, self.pose_rng)
        self.shelves = place_shelves(
            self.pose_rng, population.floor, params.shelves, params.shelf_m, params.shelf_height_m
        )
        self.keypoint_view = KeypointView(params.keypoint_noise, params.keypoint_conf, self.pose_rng)
        self._pose_now: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 2)), np.zeros(0))

    def _site_objects(self, site: SiteParams, protos: np.ndarray) -> None:
        """Uniforms (prototypes pulled onto one of two looks), mannequins and desks per room."""
        rng, d, fl = self.rng, self.p.embedding_dim, self.pop.floor
        uniforms = _unit(rng.normal(size=(2, d)))
        s = site.uniform_similarity
        for i in range(len(protos)):
            if rng.random() < site.uniform_share:
                u = int(rng.integers(2))
                ortho = _unit(protos[i] - (protos[i] @ uniforms[u]) * uniforms[u])
                protos[i] = _unit(s * uniforms[u] + np.sqrt(1 - s * s) * ortho)
                self.uniform_of[i] = u
        mannequins, desks = [], []
        for room in range(len(fl.room_boxes)):
            for _ in range(int(rng.poisson(site.mannequins_per_room))):
                mannequins.append(fl.random_point(rng, room))
            for _ in range(site.desks_per_room):
                c = fl.random_point(rng, room)
                w, h = site.desk_m if rng.random() < 0.5 else site.desk_m[::-1]
                desks.append([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])
        self.mannequin_xy = np.array(mannequins).reshape(-1, 2)
        self.mannequin_look = _unit(rng.normal(size=(len(self.mannequin_xy), d)))
        self.desks = np.array(desks).reshape(-1, 4)

    def at_desk(self, xy: np.ndarray) -> np.ndarray:
        """Whether each floor point is within half a metre of a desk (standing at it: legs hidden)."""
        if not len(self.desks) or not len(xy):
            return np.zeros(len(xy), bool)
        m = 0.5
        x, y = xy[:, 0:1], xy[:, 1:2]
        d = self.desks
        inside = (x >= d[:, 0] - m) & (x <= d[:, 2] + m) & (y >= d[:, 1] - m) & (y <= d[:, 3] + m)
        return inside.any(axis=1)

    def _in_room(self, ci: int, xy: np.ndarray) -> np.ndarray:
        """Whether each floor point is inside camera ``ci``'s room (everything, off a site)."""
        room = self.cam_room[ci]
        if room < 0:
            return np.ones(len(xy), bool)
        x0, y0, x1, y1 = self.pop.floor.room_boxes[room]
        return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)

    def _mannequins(self, cam: PinholeCamera, ci: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, scores and embeddings of the mannequins this camera sees (most frames: a detector's
        verdict on a still object hardly changes)."""
        d = self.p.embedding_dim
        if not len(self.mannequin_xy):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, d), np.float32)
        box = self._person_box_at(cam, self.mannequin_xy, np.full(len(self.mannequin_xy), 1.75))
        depth = cam.depth(np.concatenate([self.mannequin_xy, np.zeros((len(self.mannequin_xy), 1))], axis=1))
        w, h = cam.image_size
        x1, y1 = box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]
        inside = (depth > 1.0) & (box[:, 0] > 0) & (x1 < w) & (box[:, 1] > 0) & (y1 < h)
        inside &= self._in_room(ci, self.mannequin_xy)
        seen = np.flatnonzero(inside & (self.rng.random(len(box)) < 0.9))
        b = box[seen] + self.rng.normal(size=(len(seen), 4)) * 0.01 * box[seen, 3:4]
        score = np.clip(self.rng.normal(0.7, 0.08, size=len(seen)), 0.1, 0.95)
        e = self.p.common * self.common + self.mannequin_look[seen] + self.camera_bias[ci]
        e = e + self.rng.normal(scale=self.p.noise / np.sqrt(d), size=e.shape)
        return b, score, _unit(e).astype(np.float32)

    # -- helpers ---------------------------------------------------------------------------------
    def _boxes(self, cam: PinholeCamera, ids: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unclipped image boxes of standing people, and their foot depth.

        A person is a body cylinder (shoulder radius, from the hips to the top of the head) over a
        small footprint circle on the floor: the box's sides come from the body and its bottom from
        the feet, so the bottom-centre lies a little in front of the person's floor position.
        """
        h = self.pop.height[ids]
        r = self.pop.radius[ids]
        ring = np.stack([np.cos(_CYLINDER_ANGLES), np.sin(_CYLINDER_ANGLES)], axis=1)
        k = len(_CYLINDER_ANGLES)

        def layer(radius: np.ndarray, z: np.ndarray) -> np.ndarray:
            base = xy[:, None, :] + radius[:, None, None] * ring[None]
            return np.concatenate([base, np.broadcast_to(z[:, None, None], (len(xy), k, 1))], axis=2)

        pts = np.concatenate(
            [layer(np.full(len(xy), FOOT_RADIUS_M), np.zeros(len(xy))), layer(r, 0.35 * h), layer(r, h)], axis=1
        )
        depth_all = cam.depth(pts)
        uv = cam.project(pts)
        depth = cam.depth(np.concatenate([xy, np.zeros((len(xy), 1))], axis=1))
        lo, hi = uv.min(axis=1), uv.max(axis=1)
        box = np.concatenate([lo, hi - lo], axis=1)
        box[np.min(depth_all, axis=1) < 0.3] = np.nan
        return box, depth

    def _clip(self, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        x1 = np.clip(box[:, 0], 0, size[0])
        y1 = np.clip(box[:, 1], 0, size[1])
        x2 = np.clip(box[:, 0] + box[:, 2], 0, size[0])
        y2 = np.clip(box[:, 1] + box[:, 3], 0, size[1])
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)

    def _embed(self, ident: np.ndarray, cam_index: int, mix_ids: np.ndarray, mix_w: np.ndarray) -> np.ndarray:
        p = self.p
        d = p.embedding_dim
        e = (
            p.common * self.common
            + self.prototypes[ident]
            + self.camera_bias[cam_index]
            + self.view_bias[ident, cam_index]
            + self.rng.normal(scale=p.noise / np.sqrt(d), size=(len(ident), d))
        )
        has_mix = mix_ids >= 0
        if has_mix.any():
            e[has_mix] += mix_w[has_mix, None] * self.prototypes[mix_ids[has_mix]]
        return _unit(e).astype(np.float32)

    def _random_embeddings(self, n: int, cam_index: int) -> np.ndarray:
        d = self.p.embedding_dim
        e = self.p.common * self.common + _unit(self.rng.normal(size=(n, d))) + self.camera_bias[cam_index]
        return _unit(e).astype(np.float32)

    def _person_box_at(self, cam: PinholeCamera, xy: np.ndarray, heights: np.ndarray) -> np.ndarray:
        foot = cam.project(np.concatenate([xy, np.zeros((len(xy), 1))], axis=1))
        head = cam.project(np.concatenate([xy, heights[:, None]], axis=1))
        h = np.abs(foot[:, 1] - head[:, 1])
        w = 0.38 * h
        return np.stack([foot[:, 0] - w / 2, foot[:, 1] - h, w, h], axis=1)

    def _visible_floor_points(self, cam: PinholeCamera, n: int) -> np.ndarray:
        fl = self.pop.floor
        pts = np.stack(
            [
                self.rng.uniform(-1.0, fl.width + 1.0, size=4 * n + 8),
                self.rng.uniform(-1.0, fl.depth + 1.0, size=4 * n + 8),
            ],
            axis=1,
        )
        uv = cam.project(np.concatenate([pts, np.zeros((len(pts), 1))], axis=1))
        depth = cam.depth(np.concatenate([pts, np.zeros((len(pts), 1))], axis=1))
        w, h = cam.image_size
        ok = (depth > 1.0) & (uv[:, 0] > 0.05 * w) & (uv[:, 0] < 0.95 * w) & (uv[:, 1] > 0.2 * h) & (uv[:, 1] < h)
        return pts[ok][:n]

    # -- one frame ---------------------------------------------------------------------------------
    def step(self, frame: int, ids: np.ndarray, xy: np.ndarray) -> list[CameraFrame]:
        p = self.p
        # miss_burstiness is the correlation over BURST_S; over one frame it is that to the power dt / BURST_S
        rho = p.miss_burstiness ** (1.0 / (BURST_S * self.fps))
        self.latent = rho * self.latent + np.sqrt(1 - rho * rho) * self.rng.normal(size=self.latent.shape)
        self._pose_now = self.gait.step(ids, xy, self.pop.height[ids])
        out = []
        for ci, cam in enumerate(self.cameras):
            out.append(self._camera_step(frame, ci, cam, ids, xy))
        return out

    def _camera_step(self, frame: int, ci: int, cam: PinholeCamera, ids: np.ndarray, xy: np.ndarray) -> CameraFrame:
        p = self.p
        heading_all, phase_all = self._pose_now
        size = cam.image_size
        d = p.embedding_dim
        empty4 = np.zeros((0, 4))
        if len(ids):
            full, depth = self._boxes(cam, ids, xy)
            ok = np.all(np.isfinite(full), axis=1)
            clipped = self._clip(np.nan_to_num(full), size)
            area_full = np.maximum(full[:, 2] * full[:, 3], 1e-9)
            vis = np.where(ok, clipped[:, 2] * clipped[:, 3] / np.nan_to_num(area_full, nan=1.0), 0.0)
            min_h = 12.0 * size[1] / 1080.0
            keep = ok & (vis >= MIN_VISIBLE_FRACTION) & (clipped[:, 3] >= min_h) & self._in_room(ci, xy)
        else:
            keep = np.zeros(0, bool)
        k_ids, k_xy = ids[keep], xy[keep]
        k_heading, k_phase = heading_all[keep], phase_all[keep]
        k_full, k_box, k_depth = (full[keep], clipped[keep], depth[keep]) if len(ids) else (empty4, empty4, np.zeros(0))
        order = np.argsort(-k_depth) if len(k_ids) else np.zeros(0, np.int64)  # far to near
        draw_ids, draw_box = k_ids[order], k_full[order]
        # occlusion by nearer people: 1 - prod(1 - overlap)
        n = len(k_ids)
        occ = np.zeros(n)
        main_occluder = np.full(n, -1)
        if n > 1:
            ov = _overlap_fraction(k_box, k_box)
            nearer = k_depth[None, :] < k_depth[:, None]
            ov = np.where(nearer, ov, 0.0)
            occ = 1.0 - np.prod(1.0 - np.clip(ov, 0, 1), axis=1)
            best = np.argmax(ov, axis=1)
            main_occluder = np.where(ov[np.arange(n), best] > 0, best, -1)
        gt_keep = occ < MAX_GT_OCCLUSION
        gt = (k_ids[gt_keep], k_box[gt_keep], k_xy[gt_keep], occ[gt_keep])

        # detections of real people
        small = np.clip(1.0 - k_box[:, 3] / (40.0 * size[1] / 1080.0), 0, 1) if n else np.zeros(0)
        p_miss = np.clip(p.miss_rate + p.occlusion_miss * occ**2 + 0.5 * small, 0, 1)
        detected = (ndtr(self.latent[k_ids, ci]) > p_miss) & gt_keep
        box = k_box.copy()
        mix_ids = np.where(main_occluder >= 0, k_ids[np.maximum(main_occluder, 0)], -1)
        mix_w = p.occlusion_mix * occ
        merged_into = np.full(n, -1)
        if p.merge_prob > 0 and n > 1:
            cand = np.flatnonzero(detected & (occ > 0.5) & (main_occluder >= 0))
            for i in cand:
                j = main_occluder[i]
                if detected[j] and merged_into[j] < 0 and self.rng.random() < p.merge_prob:
                    x1 = np.minimum(box[i, :2], box[j, :2])
                    x2 = np.maximum(box[i, :2] + box[i, 2:], box[j, :2] + box[j, 2:])
                    box[j] = np.concatenate([x1, x2 - x1])
                    detected[i] = False
                    merged_into[j] = i
                    mix_ids[j], mix_w[j] = k_ids[i], 0.5
        di = np.flatnonzero(detected)
        det_box = box[di]
        hgt = det_box[:, 3:4]
        det_box = det_box + self.rng.normal(size=det_box.shape) * p.box_jitter * hgt
        # rows below which a person's body is hidden (shelves, desks): the box ends there
        cut_row = np.full(len(di), np.inf)
        z_cut = hidden_below(cam.centre, k_xy[di], self.shelves)
        behind = z_cut > 0
        if behind.any():
            pts = np.concatenate([k_xy[di][behind], z_cut[behind, None]], axis=1)
            cut_row[behind] = cam.project(pts)[:, 1]
        if self.site is not None:
            # a desk hides the legs: the box ends at its edge, the feet are not seen
            cut = self.at_desk(k_xy[di])
            det_box[cut, 3] *= 1.0 - self.site.desk_cut
            cut_row[cut] = np.minimum(cut_row[cut], det_box[cut, 1] + det_box[cut, 3])
        lower = np.isfinite(cut_row) & (cut_row < det_box[:, 1] + det_box[:, 3])
        det_box[lower, 3] = np.maximum(cut_row[lower] - det_box[lower, 1], 0.1 * det_box[lower, 3])
        nearer_boxes = [k_box[k_depth < k_depth[i]] for i in di]
        det_kp = self.keypoint_view.observe(
            cam, k_xy[di], k_heading[di], self.pop.height[k_ids[di]], k_phase[di], k_full[di], cut_row, nearer_boxes
        )
        det_score = np.clip(self.rng.normal(p.score_mean - 0.35 * occ[di], p.score_std), 0.05, 0.99)
        det_emb = self._embed(k_ids[di], ci, mix_ids[di], mix_w[di])
        det_gt = k_ids[di].copy()

        # false positives: person-sized boxes at random floor spots, random appearance
        n_fp = int(self.rng.poisson(p.fp_rate))
        fp_xy = self._visible_floor_points(cam, n_fp)
        fp_box = self._person_box_at(cam, fp_xy, self.rng.uniform(0.9, 1.9, size=len(fp_xy)))
        fp_box *= self.rng.uniform(0.8, 1.2, size=(len(fp_box), 1)) ** np.array([0, 0, 1, 1])
        fp_score = 0.1 + 0.6 * self.rng.beta(1.2, 3.0, size=len(fp_box))
        fp_emb = self._random_embeddings(len(fp_box), ci)

        # crowd bursts: static unannotated people visible in this camera only
        crowd = self.crowds[ci]
        if p.crowd_rate_per_min > 0 and self.rng.random() < p.crowd_rate_per_min / (60.0 * self.fps):
            k = int(self.rng.integers(3, 7))
            c_xy = self._visible_floor_points(cam, k)
            if len(c_xy):
                c_box = self._person_box_at(cam, c_xy, self.rng.uniform(1.55, 1.9, size=len(c_xy)))
                until = frame + int(self.rng.uniform(3, 10) * self.fps)
                crowd.append((until, c_box, self._random_embeddings(len(c_box), ci)))
        self.crowds[ci] = crowd = [c for c in crowd if c[0] > frame]
        cr_box, cr_emb = [empty4], [np.zeros((0, d), np.float32)]
        for _, c_box, c_emb in crowd:
            seen = self.rng.random(len(c_box)) < 0.85
            cr_box.append(c_box[seen] + self.rng.normal(size=(int(seen.sum()), 4)) * 0.02 * c_box[seen, 3:4])
            noise = self.rng.normal(scale=p.noise / np.sqrt(d), size=(int(seen.sum()), d))
            cr_emb.append(_unit(c_emb[seen] + noise).astype(np.float32))
        cr_box_a = np.concatenate(cr_box)
        cr_score = np.clip(self.rng.normal(0.6, 0.15, size=len(cr_box_a)), 0.1, 0.95)

        mq_box, mq_score, mq_emb = self._mannequins(cam, ci)
        all_kp = np.concatenate(
            [
                det_kp,
                self.keypoint_view.junk(fp_box),
                template_keypoints(cr_box_a, self.pose_rng),
                template_keypoints(mq_box, self.pose_rng),
            ]
        )
        all_box = np.concatenate([det_box, fp_box, cr_box_a, mq_box])
        all_score = np.concatenate([det_score, fp_score, cr_score, mq_score])
        all_emb = np.concatenate([det_emb, fp_emb, *cr_emb, mq_emb])
        all_gt = np.concatenate(
            [det_gt, np.full(len(fp_box), FP_ID), np.full(len(cr_box_a), CROWD_ID), np.full(len(mq_box), FP_ID)]
        )
        # clip to the image, drop slivers, and shuffle so order carries no identity information
        all_box = self._clip(np.column_stack([all_box[:, :2], np.maximum(all_box[:, 2:], 1.0)]), size)
        good = (all_box[:, 2] >= 2) & (all_box[:, 3] >= 4)
        perm = self.rng.permutation(int(good.sum()))
        sel = np.flatnonzero(good)[perm]
        return CameraFrame(
            camera_id=cam.camera_id,
            frame=frame,
            gt_ids=gt[0],
            gt_box=gt[1],
            gt_world=gt[2],
            gt_occlusion=gt[3],
            det_box=all_box[sel],
            det_score=all_score[sel],
            det_embedding=all_emb[sel].astype(np.float32),
            det_gt=all_gt[sel],
            det_keypoints=all_kp[sel].astype(np.float32),
            draw_ids=draw_ids,
            draw_box=draw_box,
        )
