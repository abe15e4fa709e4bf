"""End-of-run summary tables: steps, throughput, per-stage milliseconds, cameras, identities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpt.loop import RunSummary
from mcpt.table import format_table, tail_note

if TYPE_CHECKING:
    from mcpt.pipeline import PipelineResult

# the stages of one step in the order they run; each is timed once, so together they make the wall time
STAGE_ORDER = ("wait frames", "perception", "detect", "reid", "pose", "track", "associate", "write", "draw")


def stage_rows(summary: RunSummary) -> list[list]:
    """Per stage: name, ms per step, total s, share of the wall time."""
    t, n = summary.timer, max(summary.steps, 1)
    names = [s for s in STAGE_ORDER if s in t.samples] + [s for s in t.names() if s not in STAGE_ORDER]
    wall = summary.wall_s or 1e-9
    return [[name, 1e3 * t.total(name) / n, t.total(name), t.total(name) / wall] for name in names]


def stage_table(summary: RunSummary) -> str:
    rows = stage_rows(summary)
    covered = sum(r[2] for r in rows)
    rows.append(["(all stages)", 1e3 * covered / max(summary.steps, 1), covered, covered / (summary.wall_s or 1e-9)])
    return format_table(["stage", "ms per step", "total s", "share of wall"], rows, digits=3)


def run_table(summaries: list[RunSummary]) -> str:
    rows = [
        [
            s.scene,
            s.steps,
            s.observations,
            s.rows,
            s.identities,
            s.steps_per_s(),
            s.timer.ms("associate", 50),
            s.timer.ms("associate", 95),
            s.assoc_stats.get("splits", 0),
            s.assoc_stats.get("merges", 0),
            s.assoc_stats.get("relinks", 0),
        ]
        for s in summaries
    ]
    head = ["scene", "steps", "observations", "rows", "ids", "steps/s", "assoc ms p50", "assoc ms p95"]
    return format_table([*head, "splits", "merges", "relinks"], rows, digits=2)


def association_notes(summary: RunSummary) -> str:
    """Still objects held back, and the floor offset learnt per camera (position.self_calibrate)."""
    st = summary.assoc_stats
    parts = []
    if st.get("still_spots", 0):
        parts.append(f"still objects (never moved): {st['still_spots']} spots, {st['still_rows']} rows held back")
    if summary.camera_offsets:
        rows = [[c, dx, dy, (dx * dx + dy * dy) ** 0.5, n] for c, dx, dy, n in summary.camera_offsets]
        parts.append(format_table(["camera", "offset x m", "offset y m", "offset m", "learnt from"], rows, digits=2))
    return "\n".join(parts)


def camera_table(res: PipelineResult) -> str:
    """Every camera of the run, the failed ones included, with its decoding figures and why it failed."""
    live = res.health is not None
    rows = []
    for c in sorted(set(res.sources) | set(res.failed)):
        v = res.sources.get(c, {})
        note = res.failed.get(c) or v.get("error", "")
        row = [
            c,
            "failed" if c in res.failed else "ok",
            v.get("frames", 0),
            v.get("decode_ms", 0.0),
            v.get("gaps", 0),
            v.get("gap_s", 0.0),
            v.get("reconnects", 0),
            v.get("dropped", 0),
        ]
        if live:
            h = res.health.cameras.get(c)
            row.append("-" if h is None else f"{h.max_drift_s:.2f}")
        rows.append([*row, tail_note(note)])
    head = ["camera", "status", "frames", "decode ms", "gaps", "gap s", "reconnects", "dropped"]
    return format_table([*head, *(["max drift s"] if live else []), "note"], rows, digits=1)


def health_line(res: PipelineResult) -> str:
    """Live runs: how the run kept up with its rate and how far the cameras' clocks drifted."""
    h = res.health
    if h is None:
        return ""
    s = res.summary
    dropped = sum(v.get("dropped", 0) for v in res.sources.values())
    return (
        f"live health: {s.steps_per_s():.2f} steps/s against {h.fps:g} fps configured, {dropped} frames dropped, "
        f"{h.slow_warnings} falling-behind and {h.drift_warnings} out-of-sync warnings"
    )


def pipeline_report(res: PipelineResult) -> str:
    s = res.summary
    head = (
        f"{s.scene}: {s.steps} steps in {s.wall_s:.1f} s ({s.steps_per_s():.2f} steps/s), {s.rows} rows, "
        f"{s.identities} identities; ONNX Runtime {res.ort_s:.1f} s, wall / inference = {res.wall_per_inference:.2f}"
    )
    if s.stopped:
        head += f"; stopped early ({s.stopped})"
    parts = [head, "", stage_table(s), "", camera_table(res)]
    crops = s.timer.items.get("pose", 0)
    if crops:
        parts.insert(3, f"pose: {crops} person crops, {1e3 * s.timer.total('pose') / crops:.1f} ms per crop")
    if res.health is not None:
        parts += ["", health_line(res)]
    notes = association_notes(s)
    return "\n".join([*parts, "", notes] if notes else parts)
