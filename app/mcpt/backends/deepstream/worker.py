"""The association side of the DeepStream backend: probe output -> time steps -> Observations -> results.

Runs in its own thread so the streaming thread only ever copies metadata. nvstreammux batches are
not time steps: a batch holds the frames that came in time, two of one camera and none of another
(nvstreammux batches round-robin, "an average of batch-size/num-source frames ... the number
varies"). So each camera's frames are re-timed (file: its frame number / its video's rate; live:
its presentation time) and the ``StepAssembler`` forms the time steps exactly as the CPU backend's
lockstep reader does; each row keeps its camera's ``frame_num``.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from mcpt.association.core import Associator
from mcpt.backends.deepstream.probe import FrameObjects
from mcpt.config import Config, sct_thresholds_resolved
from mcpt.loop import AssociationLoop, RunSummary
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.pose.keypoints import unknown
from mcpt.scene.calibration import Calibration
from mcpt.sources.assembler import AssembledStep, StepAssembler
from mcpt.timing import StageTimer
from mcpt.tracking.stage import CameraTracking

log = logging.getLogger(__name__)
LIVE_MAX_WAIT_S = 1.0  # a live step waits at most this long for a late camera


class StepConverter:
    """One time step's FrameObjects (one per camera at most) -> one ObservationBatch, through the same
    per-camera stage as the CPU backend (nvtracker gave the local ids, so the stage only places boxes
    on the floor)."""

    def __init__(self, scene: str, calibrations: dict[int, Calibration], cfg: Config, dim: int) -> None:
        self.scene = scene
        self.calibrations = calibrations
        self.cfg = cfg
        self.stages: dict[int, CameraTracking] = {}
        self.dim = dim
        # the pose SGIE runs on every tracked person; as on the CPU, only boxes scored at least this keep
        # their pose (pose.min_score; unset: the tracker's high threshold, as the reference)
        gate = cfg.pose.min_score
        self.pose_min_score = sct_thresholds_resolved(cfg.association.sct).track_high_thresh if gate is None else gate

    def _stage(self, cam: int, size: tuple[int, int]) -> CameraTracking | None:
        if cam not in self.stages:
            base = self.calibrations.get(cam)
            if base is None:
                return None
            self.stages[cam] = CameraTracking(cam, base.for_image(size), self.cfg.association, size, with_tracker=False)
        return self.stages[cam]

    def __call__(self, step: AssembledStep) -> ObservationBatch:
        parts = []
        for cam in sorted(step.items):
            f: FrameObjects = step.items[cam]
            stage = self._stage(cam, f.source_size)
            if stage is None:
                continue
            emb = f.embeddings if f.embeddings.shape[1] == self.dim else np.zeros((len(f.boxes), self.dim), np.float32)
            kp = f.keypoints
            if kp is not None:
                kp = kp.copy()
                kp[f.scores < self.pose_min_score] = np.nan  # below the gate: no pose, as the CPU path
            parts.append(
                stage.observe(self.scene, step.index, f.frame_num, f.timestamp, f.track_ids, f.boxes, f.scores, emb, kp)
            )
        batch = concat_batches(parts, scene=self.scene, step=step.index, time_s=step.timestamp, dim=self.dim)
        batch.cameras = np.array(sorted(step.items), np.int64)
        return batch


class AssociationWorker(threading.Thread):
    """Takes ("frames", [FrameObjects]), ("eos", camera) and ("stop", None) from its inbox, forms time
    steps and runs the shared association loop on them until stopped."""

    def __init__(
        self,
        inbox: queue.Queue,
        converter: StepConverter,
        cfg: Config,
        out,
        fps: float,
        rates: dict[int, float | None],
        live: bool,
        dump=None,
    ) -> None:
        super().__init__(name="association", daemon=True)
        self.inbox = inbox
        self.converter = converter
        self.associator = Associator(cfg.association, fps=fps)
        self.out = out
        self.rates = rates  # camera -> its video's frame rate (None: live, timed by presentation time)
        periods = {c: 1.0 / r for c, r in rates.items() if r}
        self.assembler = StepAssembler(list(rates), fps, periods, max_wait_s=LIVE_MAX_WAIT_S if live else None)
        self.first_pts: dict[int, float] = {}
        self.summary = RunSummary(converter.scene)
        self.error: BaseException | None = None
        self.dump = dump  # a .npz path: every observation (camera, frame, box, score, embedding) for checks
        self._dumped: list = []

    def _timestamp(self, f: FrameObjects) -> float:
        rate = self.rates.get(f.camera_id)
        if rate:
            return f.frame_num / rate
        first = self.first_pts.setdefault(f.camera_id, f.pts_s)
        return f.pts_s - first

    def finish(self) -> None:
        """Stop after everything sent so far is associated (call at end of stream)."""
        self.inbox.put(("stop", None))

    def run(self) -> None:
        try:
            with AssociationLoop(self.converter.scene, self.associator, self.out, StageTimer()) as loop:
                self._serve(loop)
            self.summary = loop.summary
        except BaseException as e:  # reported by the caller; the partial results file is kept
            self.error = e

    def _serve(self, loop: AssociationLoop) -> None:
        a = self.assembler
        while True:
            try:
                kind, payload = self.inbox.get(timeout=0.1)
            except queue.Empty:
                kind, payload = "tick", None
            if kind == "frames":
                for f in payload:
                    f.timestamp = self._timestamp(f)
                    a.push(f.camera_id, f)
            elif kind == "eos":
                a.close(payload)
            elif kind == "stop":
                a.close_all()
            for step in a.steps():
                out = loop.step(self.converter(step))
                if self.dump is not None:
                    b = out.batch
                    self._dumped.append((b.camera_id, b.frame_id, b.bbox, b.score, b.embedding, b.keypoints))
            if kind == "stop":
                if a.stats.late:
                    log.warning("frames that came after their step (live): %s", a.stats.late)
                if self.dump is not None:
                    self._write_dump()
                return

    def _write_dump(self) -> None:
        cols = list(zip(*self._dumped, strict=True)) if self._dumped else [[]] * 6
        names = ("camera_id", "frame_id", "bbox", "score", "embedding", "keypoints")
        out = {}
        for n, c in zip(names, cols, strict=True):
            if n == "keypoints":
                if all(k is None for k in c):
                    continue  # no pose model ran
                c = [k if k is not None else unknown(len(b)) for k, b in zip(c, cols[2], strict=True)]
            out[n] = np.concatenate(c) if len(c) else np.zeros(0)
        np.savez(self.dump, **out)
