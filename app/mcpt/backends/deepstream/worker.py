"""The association side of the DeepStream backend: probe output -> Observations -> global ids -> results.

Runs in its own thread so the streaming thread only ever copies metadata. One streammux batch
is one time step of the association core; each row keeps its camera's ``frame_num``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

import numpy as np

from mcpt.association.core import Associator
from mcpt.backends.deepstream.probe import FrameObjects
from mcpt.config import Config
from mcpt.loop import RunSummary, run_association
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.scene.calibration import Calibration
from mcpt.tracking.stage import CameraTracking

log = logging.getLogger(__name__)


class BatchConverter:
    """FrameObjects of one batch -> one ObservationBatch, through the same per-camera stage as the CPU backend.

    nvtracker gave the local ids, so each camera's stage only computes floor positions (``observe``).
    """

    def __init__(self, scene: str, calibrations: dict[int, Calibration], cfg: Config, dim: int) -> None:
        self.scene = scene
        self.calibrations = calibrations
        self.cfg = cfg
        self.stages: dict[int, CameraTracking] = {}
        self.dim = dim

    def _stage(self, cam: int, size: tuple[int, int]) -> CameraTracking | None:
        if cam not in self.stages:
            base = self.calibrations.get(cam)
            if base is None:
                return None
            self.stages[cam] = CameraTracking(cam, base.for_image(size), self.cfg.association, size, with_tracker=False)
        return self.stages[cam]

    def __call__(self, step: int, frames: list[FrameObjects]) -> ObservationBatch:
        ts = min((f.pts_s for f in frames), default=0.0)
        parts = []
        for f in frames:
            stage = self._stage(f.camera_id, f.source_size)
            if stage is None:
                continue
            emb = f.embeddings if f.embeddings.shape[1] == self.dim else np.zeros((len(f.boxes), self.dim), np.float32)
            parts.append(stage.observe(self.scene, step, f.frame_num, f.pts_s, f.track_ids, f.boxes, f.scores, emb))
        batch = concat_batches(parts, scene=self.scene, step=step, time_s=ts, dim=self.dim)
        batch.cameras = np.array(sorted({f.camera_id for f in frames}), np.int64)
        return batch


class AssociationWorker(threading.Thread):
    """Runs the shared association loop (``run_association``) over the probe's queue until end of stream."""

    def __init__(self, source: queue.Queue, converter: BatchConverter, cfg: Config, out, fps: float) -> None:
        super().__init__(name="association", daemon=True)
        self.source = source
        self.converter = converter
        self.associator = Associator(cfg.association, fps=fps)
        self.out = out
        self.summary = RunSummary(converter.scene)
        self._done = threading.Event()
        self.error: BaseException | None = None

    def finish(self) -> None:
        """Stop after the queue is drained (call at end of stream)."""
        self._done.set()

    def _batches(self) -> Iterator[ObservationBatch]:
        step = 0
        while not (self._done.is_set() and self.source.empty()):
            try:
                frames = self.source.get(timeout=0.1)
            except queue.Empty:
                continue
            yield self.converter(step, frames)
            step += 1

    def run(self) -> None:
        try:
            self.summary = run_association(
                self._batches(), self.associator, self.out, self.converter.scene, progress=False, source_stage="wait"
            )
        except BaseException as e:  # reported by the caller; the partial results file is kept
            self.error = e
