"""CPU backend: one lockstep Step of decoded frames -> ONNX Runtime detector -> ReID -> trackers -> Observations.

One ObservationBatch per time step, exactly what the replay and DeepStream backends emit, so
the same association core runs behind all of them. Detection is batched across cameras; ReID
crops of a step are batched together (first the confident boxes the trackers match on, then the
few low-score boxes the trackers kept). With a pose model, the kept confident boxes of all cameras
get body keypoints in one batch too. Each stage is timed once, under its own name.
"""

from __future__ import annotations

import time

import numpy as np

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.models.detector import PersonDetector
from mcpt.models.pose import PoseModel
from mcpt.models.reid import ReIDModel
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.pose.keypoints import unknown
from mcpt.scene.calibration import Calibration
from mcpt.scene.cameras import CameraFailures
from mcpt.sources.lockstep import Step
from mcpt.timing import StageTimer
from mcpt.tracking.stage import CameraTracking


class CpuPerception:
    def __init__(
        self,
        scene: str,
        calibrations: dict[int, Calibration],
        cfg: Config,
        detector: PersonDetector,
        reid: ReIDModel,
        failures: CameraFailures,
        timer: StageTimer,
        fps: float,
        pose: PoseModel | None = None,
    ) -> None:
        self.scene = scene
        self.fps = fps  # the processing rate: the trackers turn the configured seconds into steps with it
        self.cfg = cfg
        self.detector = detector
        self.reid = reid
        self.failures = failures
        self.timer = timer
        self.calibrations = calibrations
        self.tracking: dict[int, CameraTracking] = {}
        self.dim = reid.dim or 1
        self.pose = pose
        # boxes scored below this get no pose (None in the configuration: the trackers' high threshold)
        self.pose_min_score = (
            cfg.pose.min_score if cfg.pose.min_score is not None else cfg.association.sct.track_high_thresh
        )
        self.ort_s = 0.0  # time inside ONNX Runtime (part of detect, reid and pose)
        if cfg.detector.interval < 0:
            raise InputError("config", f"expected 0 or more, got {cfg.detector.interval}", field="detector.interval")
        self.detect_every = cfg.detector.interval + 1

    def _camera(self, cid: int, image: np.ndarray) -> CameraTracking | None:
        """The camera's tracking stage, set up from its first frame (the calibration needs the image size)."""
        stage = self.tracking.get(cid)
        if stage is not None or cid in self.failures or cid not in self.calibrations:
            return stage
        size = (image.shape[1], image.shape[0])
        calib = self.calibrations[cid].for_image(size)
        try:
            calib.check_visible_floor(size)
        except InputError as e:
            self.failures.fail(cid, str(e))
            return None
        stage = self.tracking[cid] = CameraTracking(
            cid, calib, self.cfg.association, size, self.fps, detect_every=self.detect_every
        )
        return stage

    def _embed(self, frames: dict[int, np.ndarray], picks: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """Embeddings for (camera, boxes) pairs, one ONNX Runtime batch for all of them."""
        crops = [self.reid.crops(frames[cid], boxes) for cid, boxes in picks if len(boxes)]
        t = time.perf_counter()
        emb = self.reid.embed(np.concatenate(crops)) if crops else np.zeros((0, self.dim), np.float32)
        self.ort_s += time.perf_counter() - t
        out, k = [], 0
        for _, boxes in picks:
            out.append(emb[k : k + len(boxes)])
            k += len(boxes)
        return out

    def _detect(self, frames: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        cids = list(frames)
        if not cids:
            return {}
        batch, lbs = self.detector.preprocess([frames[c] for c in cids])
        t = time.perf_counter()
        raw = self.detector.infer(batch)
        self.ort_s += time.perf_counter() - t
        dets = self.detector.postprocess(raw, lbs, [(frames[c].shape[1], frames[c].shape[0]) for c in cids])
        return dict(zip(cids, dets, strict=True))

    def _poses(self, frames: dict[int, np.ndarray], kept: list[tuple[int, np.ndarray, np.ndarray]]) -> list:
        """Keypoints for each camera's kept (camera, boxes, scores): the confident boxes of all cameras in one
        batch, at most ``pose.max_boxes`` of them (the best first); the other rows unknown (no pose estimated)."""
        if not kept:
            return []
        scores = np.concatenate([s for _, _, s in kept])
        camera = np.repeat(np.arange(len(kept)), [len(s) for _, _, s in kept])
        row = np.concatenate([np.arange(len(s)) for _, _, s in kept])
        confident = np.flatnonzero(scores >= self.pose_min_score)
        chosen = np.zeros(len(scores), bool)
        chosen[confident[np.argsort(-scores[confident], kind="stable")[: self.cfg.pose.max_boxes]]] = True
        rows = [row[chosen & (camera == k)] for k in range(len(kept))]
        self.timer.items["pose"] += int(chosen.sum())  # crops, for the ms per crop of the summary
        before = self.pose.ort_s
        poses = self.pose.estimate([(frames[cid], boxes[r]) for (cid, boxes, _), r in zip(kept, rows, strict=True)])
        self.ort_s += self.pose.ort_s - before
        out = [unknown(len(s)) for _, _, s in kept]
        for kp, r, o in zip(poses, rows, out, strict=True):
            o[r] = kp
        return out

    def __call__(self, step: Step) -> ObservationBatch:
        frames = {cid: f.image for cid, f in sorted(step.frames.items()) if self._camera(cid, f.image) is not None}
        if step.index % self.detect_every:
            return self._coast(step, frames)
        return self._detect_and_track(step, frames)

    def _batch(self, parts: list[ObservationBatch], step: Step, frames: dict[int, np.ndarray]) -> ObservationBatch:
        result = concat_batches(parts, scene=self.scene, step=step.index, time_s=step.timestamp, dim=self.dim)
        result.cameras = np.array(list(frames), np.int64)
        result.camera_frames = {c: (step.frames[c].index, step.frames[c].timestamp) for c in frames}
        return result

    def _coast(self, step: Step, frames: dict[int, np.ndarray]) -> ObservationBatch:
        """A step between detections (``detector.interval``): the trackers carry their tracks."""
        with self.timer.stage("track"):
            parts = [
                self.tracking[cid].coast(self.scene, step.index, step.frames[cid].index, step.frames[cid].timestamp)
                for cid in frames
            ]
        return self._batch(parts, step, frames)

    def _detect_and_track(self, step: Step, frames: dict[int, np.ndarray]) -> ObservationBatch:
        high_thresh = self.cfg.association.sct.track_high_thresh
        with self.timer.stage("detect", items=len(frames)):
            dets = self._detect(frames)
        with self.timer.stage("reid"):
            high = [(c, d[d[:, 4] >= high_thresh, :4]) for c, d in dets.items()]
            high_emb = dict(zip(dets, self._embed(frames, high), strict=True))
        tracked = []
        with self.timer.stage("track"):
            for cid, d in dets.items():
                feats = np.zeros((len(d), self.dim), np.float32)
                is_high = d[:, 4] >= high_thresh
                feats[is_high] = high_emb[cid]
                out = self.tracking[cid].track(step.index, d[:, :4], d[:, 4], feats)
                keep = np.flatnonzero(out.track_id >= 0)
                tracked.append((cid, keep, keep[~is_high[keep]], out, feats, d[:, 4]))
        with self.timer.stage("reid"):
            # the low-score boxes the trackers kept need an embedding too
            low_emb = self._embed(frames, [(cid, out.box[low]) for cid, _, low, out, _, _ in tracked])
        keypoints: list = [None] * len(tracked)
        if self.pose is not None:
            with self.timer.stage("pose"):
                keypoints = self._poses(frames, [(c, out.box[keep], sc[keep]) for c, keep, _, out, _, sc in tracked])
        parts = []
        with self.timer.stage("track"):
            for (cid, keep, low, out, feats, scores), emb, kp in zip(tracked, low_emb, keypoints, strict=True):
                feats[low] = emb
                f = step.frames[cid]
                parts.append(
                    self.tracking[cid].observe(
                        self.scene,
                        step.index,
                        f.index,
                        f.timestamp,
                        out.track_id[keep],
                        out.box[keep],
                        scores[keep],
                        feats[keep],
                        kp,
                    )
                )
        return self._batch(parts, step, frames)
