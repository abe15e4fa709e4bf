"""CPU backend: decoded frames -> ONNX Runtime detector -> ReID -> single-camera trackers -> Observations.

One ObservationBatch per time step, exactly what the replay and DeepStream backends emit, so
the same association core runs behind all of them. Detection is batched across cameras; ReID
crops of a step are batched together (first the confident boxes the trackers match on, then the
few low-score boxes the trackers kept).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mcpt.association.sct import SingleCameraTracker
from mcpt.backends.common import camera_observations
from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.models.detector import PersonDetector
from mcpt.models.reid import ReIDModel
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.scene.calibration import Calibration
from mcpt.sources.lockstep import LockstepReader, Step
from mcpt.timing import StageTimer

log = logging.getLogger(__name__)


@dataclass
class CameraState:
    camera_id: int
    calib: Calibration
    tracker: SingleCameraTracker | None = None
    image_size: tuple[int, int] | None = None
    disabled: str | None = None  # why this camera is not used


class CpuPerception:
    """Turns one lockstep Step (frames of all cameras) into one ObservationBatch."""

    def __init__(
        self,
        scene: str,
        calibrations: dict[int, Calibration],
        cfg: Config,
        detector: PersonDetector,
        reid: ReIDModel,
        timer: StageTimer | None = None,
    ) -> None:
        self.scene = scene
        self.cfg = cfg
        self.detector = detector
        self.reid = reid
        self.timer = timer or StageTimer()
        self.cameras = {cid: CameraState(cid, calib) for cid, calib in calibrations.items()}
        self.dim = reid.dim or 1

    def _camera(self, cid: int, image: np.ndarray) -> CameraState | None:
        cam = self.cameras.get(cid)
        if cam is None or cam.disabled:
            return None
        if cam.tracker is None:
            size = (image.shape[1], image.shape[0])
            cam.calib = cam.calib.for_image(size)
            try:
                cam.calib.check_visible_floor(size)
            except InputError as e:
                cam.disabled = str(e)
                log.error("camera %s disabled: %s", cid, e)
                return None
            cam.image_size = size
            a = self.cfg.association
            cam.tracker = SingleCameraTracker(a.sct, size, use_appearance=a.use_appearance)
        return cam

    def _embed(self, frames: dict[int, np.ndarray], picks: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """Embeddings for (camera, boxes) pairs, one ONNX Runtime batch for all of them."""
        crops = [self.reid.crops(frames[cid], boxes) for cid, boxes in picks if len(boxes)]
        t = time.perf_counter()
        emb = self.reid.embed(np.concatenate(crops)) if crops else np.zeros((0, self.dim), np.float32)
        self.timer.add("ort", time.perf_counter() - t)
        out, k = [], 0
        for _, boxes in picks:
            out.append(emb[k : k + len(boxes)])
            k += len(boxes)
        return out

    def __call__(self, step: Step) -> ObservationBatch:
        sct = self.cfg.association.sct
        frames = {}
        for cid, f in sorted(step.frames.items()):
            if self._camera(cid, f.image) is not None:
                frames[cid] = f.image
        cids = list(frames)
        with self.timer.stage("detect", items=len(cids)):
            batch, lbs = self.detector.preprocess([frames[c] for c in cids]) if cids else (None, [])
            t = time.perf_counter()
            raw = self.detector.infer(batch) if cids else None
            self.timer.add("ort", time.perf_counter() - t)
            dets = (
                self.detector.postprocess(raw, lbs, [(frames[c].shape[1], frames[c].shape[0]) for c in cids])
                if cids
                else []
            )
        dets_by_cam = dict(zip(cids, dets, strict=True))
        with self.timer.stage("reid"):
            high = [(c, d[d[:, 4] >= sct.track_high_thresh, :4]) for c, d in dets_by_cam.items()]
            high_emb = dict(zip(cids, self._embed(frames, high), strict=True))
        parts = []
        late: list[tuple[int, np.ndarray, np.ndarray]] = []
        with self.timer.stage("track"):
            for cid in cids:
                d = dets_by_cam[cid]
                feats = np.zeros((len(d), self.dim), np.float32)
                is_high = d[:, 4] >= sct.track_high_thresh
                feats[is_high] = high_emb[cid]
                out = self.cameras[cid].tracker.update(step.index, d[:, :4], d[:, 4], feats)
                keep = np.flatnonzero(out.track_id >= 0)
                late.append((cid, keep[~is_high[keep]], out.box))
                parts.append((cid, keep, out, feats, d[:, 4]))
        with self.timer.stage("reid"):
            low_emb = self._embed(frames, [(cid, box[rows]) for cid, rows, box in late])
        batches = []
        with self.timer.stage("track"):
            for (cid, keep, out, feats, scores), (_, rows, _), emb in zip(parts, late, low_emb, strict=True):
                feats[rows] = emb
                cam = self.cameras[cid]
                batches.append(
                    camera_observations(
                        self.scene,
                        step.index,
                        step.timestamp,
                        cid,
                        cam.calib,
                        cam.image_size[1],
                        self.cfg.association.position,
                        out.track_id[keep],
                        out.box[keep],
                        scores[keep],
                        feats[keep],
                    )
                )
        result = concat_batches(batches, scene=self.scene, frame_id=step.index, timestamp=step.timestamp, dim=self.dim)
        result.cameras = np.array(cids, np.int64)
        return result


class CpuSource:
    """Iterates ObservationBatches from live decoding, keeping each step's frames for the visual outputs."""

    def __init__(self, reader: LockstepReader, perception: CpuPerception) -> None:
        self.reader = reader
        self.perception = perception
        self.timer = perception.timer
        self.last_frames: dict[int, np.ndarray] = {}
        self.steps = 0

    @property
    def fps(self) -> float:
        return self.reader.fps

    def __iter__(self) -> Iterator[ObservationBatch]:
        it = iter(self.reader)
        while True:
            t = time.perf_counter()
            step = next(it, None)
            self.timer.add("wait frames", time.perf_counter() - t)
            if step is None:
                return
            self.last_frames = {cid: f.image for cid, f in step.frames.items()}
            self.steps += 1
            yield self.perception(step)
