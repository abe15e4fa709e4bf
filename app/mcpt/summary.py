"""End-of-run summary tables: frames, throughput, per-stage milliseconds, identities."""

from __future__ import annotations

from mcpt.runner import RunSummary
from mcpt.table import format_table


def stage_table(summary: RunSummary) -> str:
    t = summary.timer
    rows = []
    for name in t.names():
        n = len(t.samples[name])
        rows.append([name, n, t.ms(name), t.ms(name, 50), t.ms(name, 95), t.total(name)])
    return format_table(["stage", "calls", "mean ms", "median ms", "p95 ms", "total s"], rows, digits=2)


def run_table(summaries: list[RunSummary]) -> str:
    rows = []
    for s in summaries:
        rows.append(
            [
                s.scene,
                s.frames,
                s.observations,
                s.rows,
                s.identities,
                s.fps(),
                s.timer.ms("associate", 50),
                s.timer.ms("associate", 95),
                s.assoc_stats.get("splits", 0),
                s.assoc_stats.get("merges", 0),
                s.assoc_stats.get("relinks", 0),
            ]
        )
    return format_table(
        [
            "scene",
            "frames",
            "observations",
            "rows",
            "ids",
            "fps",
            "assoc ms p50",
            "assoc ms p95",
            "splits",
            "merges",
            "relinks",
        ],
        rows,
        digits=2,
    )
