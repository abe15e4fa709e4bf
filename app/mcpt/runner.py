"""Drive the association core over a stream of ObservationBatch and write AIC24 rows as they come."""

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


def result_rows(batch: ObservationBatch, step: StepResult) -> Rows:
    out = step.global_id >= 0
    return Rows(
        batch.camera_id[out].astype(np.int64),
        step.global_id[out],
        np.full(int(out.sum()), batch.frame_id),
        batch.bbox[out],
        step.position[out],
    )


@dataclass
class RunSummary:
    scene: str
    frames: int = 0
    observations: int = 0
    rows: int = 0
    identities: int = 0
    wall_s: float = 0.0
    timer: StageTimer = field(default_factory=StageTimer)
    assoc_stats: dict = field(default_factory=dict)

    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def run_association(
    batches: Iterable[ObservationBatch],
    associator: Associator,
    out: str | Path | None,
    scene: str,
    total: int | None = None,
    progress: bool = True,
    timer: StageTimer | None = None,
    on_step=None,
    postfix=None,
) -> RunSummary:
    """Associate every batch and append its rows to ``out`` (flushed per frame, renamed at the end)."""
    from tqdm import tqdm

    summary = RunSummary(scene)
    timer = timer or summary.timer
    summary.timer = timer
    writer = ResultsWriter(out) if out is not None else None
    bar = tqdm(
        total=total, desc=scene, unit="step", disable=not progress, leave=False, dynamic_ncols=True, mininterval=0.5
    )
    t_start = time.perf_counter()
    try:
        it = iter(batches)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            timer.add("perception", time.perf_counter() - t0)
            with timer.stage("associate", items=len(batch)):
                step = associator.update(batch)
            rows = result_rows(batch, step)
            if writer is not None:
                with timer.stage("write"):
                    writer.write(rows)
            if on_step is not None:
                on_step(batch, step)
            summary.frames += 1
            summary.observations += len(batch)
            summary.rows += len(rows)
            if progress and summary.frames % 10 == 0:
                extra = postfix() if postfix is not None else {}
                bar.set_postfix(
                    ids=associator.next_out_id - 1, assoc_ms=f"{timer.ms('associate'):.1f}", **extra, refresh=False
                )
            bar.update(1)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    if writer is not None:
        writer.close()
    summary.wall_s = time.perf_counter() - t_start
    summary.identities = associator.next_out_id - 1
    st = associator.stats
    summary.assoc_stats = {
        "splits": st.splits,
        "merges": st.merges,
        "relinks": st.relinks,
        "lost_revived": st.lost_revived,
    }
    return summary
