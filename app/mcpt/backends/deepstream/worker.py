"""The association side of the DeepStream backend: probe output -> Observations -> global ids -> results.

Runs in its own thread so the streaming thread only ever copies metadata. One streammux batch
(one frame per camera, nearly simultaneous) is one time step of the association core.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

import numpy as np

from mcpt.association.core import Associator
from mcpt.backends.common import camera_observations
from mcpt.backends.deepstream.probe import FrameObjects
from mcpt.config import Config
from mcpt.observation import ObservationBatch, concat_batches
from mcpt.runner import RunSummary, run_association
from mcpt.scene.calibration import Calibration

log = logging.getLogger(__name__)


class BatchConverter:
    """FrameObjects of one batch -> one ObservationBatch, with the same code as the CPU backend."""

    def __init__(self, scene: str, calibrations: dict[int, Calibration], cfg: Config, dim: int) -> None:
        self.scene = scene
        self.calibrations = calibrations
        self.sized: dict[int, Calibration] = {}
        self.position = cfg.association.position
        self.dim = dim

    def _calib(self, cam: int, size: tuple[int, int]) -> Calibration | None:
        if cam not in self.sized:
            base = self.calibrations.get(cam)
            if base is None:
                return None
            self.sized[cam] = base.for_image(size)
        return self.sized[cam]

    def __call__(self, step: int, frames: list[FrameObjects]) -> ObservationBatch:
        ts = min((f.pts_s for f in frames), default=0.0)
        parts = []
        for f in frames:
            calib = self._calib(f.camera_id, f.source_size)
            if calib is None:
                continue
            emb = f.embeddings if f.embeddings.shape[1] == self.dim else np.zeros((len(f.boxes), self.dim), np.float32)
            parts.append(
                camera_observations(
                    self.scene,
                    step,
                    ts,
                    f.camera_id,
                    calib,
                    f.source_size[1],
                    self.position,
                    f.track_ids,
                    f.boxes,
                    f.scores,
                    emb,
                )
            )
        batch = concat_batches(parts, scene=self.scene, frame_id=step, timestamp=ts, dim=self.dim)
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
                self._batches(), self.associator, self.out, self.converter.scene, progress=False
            )
        except BaseException as e:  # reported by the caller; the partial results file is kept
            self.error = e
