"""One time step of association, the same for every backend: batch -> global ids -> result rows -> file.

``AssociationLoop.step`` is what the CPU pipeline, the replay command and the DeepStream worker
each call once per time step; ``run_association`` drives it over an iterable of batches. Rows
are written (and flushed) as they are produced, to ``NAME.partial``, renamed when the run closes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcpt.association.core import Associator, StepResult
from mcpt.observation import ObservationBatch
from mcpt.scene.results import ResultsWriter, Rows
from mcpt.timing import StageTimer


def result_rows(batch: ObservationBatch, result: StepResult) -> Rows:
    """The step's output rows: each carries its camera's source frame number."""
    out = result.global_id >= 0
    return Rows(
        batch.camera_id[out].astype(np.int64),
        result.global_id[out],
        batch.frame_id[out].astype(np.int64),
        batch.bbox[out],
        result.position[out],
    )


@dataclass
class RunSummary:
    scene: str
    steps: int = 0
    observations: int = 0
    rows: int = 0
    identities: int = 0
    wall_s: float = 0.0
    timer: StageTimer = field(default_factory=StageTimer)
    assoc_stats: dict = field(default_factory=dict)
    camera_offsets: list = field(default_factory=list)  # (camera, dx, dy, observations) learnt online
    stopped: str | None = None  # why the run ended before its input did (a signal, --duration)

    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class StepOutput:
    batch: ObservationBatch
    result: StepResult
    rows: Rows


class AssociationLoop:
    """Associates one batch per call and appends its rows to the results file.

    Use as a context manager: a clean exit closes the file (renamed from ``.partial``), an
    exception keeps the ``.partial`` file with every row written so far.
    """

    def __init__(
        self, scene: str, associator: Associator, out: str | Path | None = None, timer: StageTimer | None = None
    ) -> None:
        self.associator = associator
        self.timer = timer or StageTimer()
        self.summary = RunSummary(scene, timer=self.timer)
        self.writer = ResultsWriter(out) if out is not None else None
        self._t_start = time.perf_counter()

    def step(self, batch: ObservationBatch) -> StepOutput:
        with self.timer.stage("associate", items=len(batch)):
            result = self.associator.update(batch)
        rows = result_rows(batch, result)
        if self.writer is not None:
            with self.timer.stage("write"):
                self.writer.write(rows)
        s = self.summary
        s.steps += 1
        s.observations += len(batch)
        s.rows += len(rows)
        return StepOutput(batch, result, rows)

    @property
    def identities(self) -> int:
        return self.associator.next_out_id - 1

    def close(self) -> RunSummary:
        if self.writer is not None:
            self.writer.close()
        s = self.summary
        s.wall_s = time.perf_counter() - self._t_start
        s.identities = self.identities
        st = self.associator.stats
        s.assoc_stats = {
            "splits": st.splits,
            "merges": st.merges,
            "relinks": st.relinks,
            "lost_revived": st.lost_revived,
            "still_rows": st.still_rows,
            "still_spots": st.still_spots,
        }
        s.camera_offsets = self.associator.camera_offsets()
        return s

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()

    def __enter__(self) -> AssociationLoop:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Progress:
    """A progress bar over time steps with throughput figures (refreshed every 10 steps)."""

    def __init__(self, scene: str, total: int | None, enabled: bool) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self.n = 0
        self.bar = tqdm(
            total=total, desc=scene, unit="step", disable=not enabled, leave=False, dynamic_ncols=True, mininterval=0.5
        )

    def update(self, postfix=None) -> None:
        """One step done; ``postfix()`` gives the figures to show (called only when shown)."""
        self.n += 1
        if self.enabled and postfix is not None and self.n % 10 == 0:
            self.bar.set_postfix(**postfix(), refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_association(
    batches: Iterable[ObservationBatch],
    associator: Associator,
    out: str | Path | None,
    scene: str,
    total: int | None = None,
    progress: bool = True,
    timer: StageTimer | None = None,
    source_stage: str = "perception",
    duration: float | None = None,
) -> RunSummary:
    """Associate every batch of an iterable; the time spent producing batches counts as ``source_stage``.

    SIGINT/SIGTERM or ``duration`` (seconds) end it cleanly after the step in flight (see mcpt.stopping)."""
    from mcpt.stopping import StopRequest

    loop = AssociationLoop(scene, associator, out, timer)
    bar = Progress(scene, total, progress)
    timer = loop.timer
    stop = StopRequest(duration)
    try:
        with stop, loop:
            it = iter(batches)
            while not stop.requested:
                t0 = time.perf_counter()
                batch = next(it, None)
                timer.add(source_stage, time.perf_counter() - t0)
                if batch is None:
                    break
                loop.step(batch)
                bar.update(lambda: {"ids": loop.identities, "assoc_ms": f"{timer.ms('associate'):.1f}"})
    finally:
        bar.close()
    loop.summary.stopped = stop.reason
    return loop.summary
