"""``mcpt track``: run the association core on cached perception (replay) and write AIC24 results."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mcpt.commands.common import add_run_control, positive_float

HELP = "associate cached detections (camera_*/perception.npz) of a scene or split into global tracks"
EXAMPLE = "mcpt track scenes/scene_001 --out r.txt --eval"
DESCRIPTION = (
    "Replay backend: reads each camera's perception.npz and calibration.json, runs the single-camera trackers "
    "and the cross-camera association online frame by frame, and writes AIC24 rows as it goes."
)
log = logging.getLogger(__name__)


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config; `reference` = the published method without mcpt's additions")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set association.tracker.min_hits=5 (repeatable)",
    )
    p.add_argument("--no-refine", action="store_true", help="ablation: no cluster self-refinement")
    p.add_argument("--no-appearance", action="store_true", help="ablation: ignore ReID embeddings")
    p.add_argument("--no-world", action="store_true", help="ablation: ignore floor positions when matching")


def config_from_args(args: argparse.Namespace):
    from mcpt.config import load_config

    overrides = list(args.overrides)
    if args.no_refine:
        overrides.append("association.refine.enabled=false")
    if args.no_appearance:
        overrides.append("association.use_appearance=false")
    if args.no_world:
        overrides.append("association.use_world=false")
    return load_config(args.config, overrides)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", help="a scene folder (scene_XXX) or a split folder of scenes")
    p.add_argument(
        "--replay",
        action="store_true",
        help="accepted for clarity: cached perception is this command's only input, always on (`mcpt run` reads video)",
    )
    p.add_argument("--out", required=True, help="results file for one scene, or a folder for a split")
    add_config_args(p)
    p.add_argument(
        "--baseline", action="store_true", help="run the simple world-distance baseline instead of the method"
    )
    p.add_argument("--eval", action="store_true", help="score against ground_truth.txt when present")
    p.add_argument(
        "--perception",
        metavar="NAME",
        help="replay camera_XXXX/perception_NAME.npz (recorded by `mcpt perceive`) instead of perception.npz",
    )
    p.add_argument(
        "--fps",
        type=positive_float,
        help="processing rate (default: the slowest camera's); rows keep their source frame numbers",
    )
    add_run_control(p)


def track_scene(
    scene,
    out: Path,
    cfg,
    baseline: bool = False,
    progress: bool = True,
    fps: float | None = None,
    perception=None,
    strict: bool = False,
    duration: float | None = None,
):
    """(run summary, camera rows) of one scene."""
    from mcpt.association.baseline import WorldDistanceBaseline
    from mcpt.association.core import Associator
    from mcpt.backends.replay import ReplaySource
    from mcpt.loop import run_association

    cfg = cfg.for_scene(scene.name)
    source = ReplaySource(scene, cfg, fps=fps, perception=perception, strict=strict)
    assoc = WorldDistanceBaseline(fps=source.fps) if baseline else Associator(source.cfg.association, fps=source.fps)
    summary = run_association(
        source, assoc, out, scene.name, total=source.num_steps, progress=progress, source_stage="track",
        duration=duration,
    )  # fmt: skip
    return summary, source.camera_rows()


def main(args: argparse.Namespace) -> int:
    from mcpt.scene.layout import discover_scenes
    from mcpt.summary import association_notes, run_table, stage_table
    from mcpt.table import format_table, tail_note

    cfg = config_from_args(args)
    scenes = discover_scenes(args.scene)
    out = Path(args.out)
    single = len(scenes) == 1 and out.suffix == ".txt"
    summaries, cameras = [], []
    for scene in scenes:
        target = out if single else out / f"{scene.name}.txt"
        s, rows = track_scene(
            scene,
            target,
            cfg,
            baseline=args.baseline,
            progress=not args.quiet,
            fps=args.fps,
            perception=args.perception,
            strict=args.strict,
            duration=args.duration,
        )
        summaries.append(s)
        cameras += [[scene.name, *r] for r in rows]
        log.info("%s: %d steps, %d ids -> %s", scene.name, s.steps, s.identities, target)
        if s.stopped:
            break
    if not args.quiet:
        print(run_table(summaries))
        print()
        if len(summaries) == 1:
            print(stage_table(summaries[-1]))
            print()
        head = ["scene", "camera", "status", "cached frames", "note"]
        print(format_table(head, [[*r[:4], tail_note(r[4])] for r in cameras]))
        notes = association_notes(summaries[-1]) if len(summaries) == 1 else ""
        if notes:
            print()
            print(notes)
    stopped = summaries[-1].stopped
    print(f"wrote {out}" + (f" (stopped early: {stopped})" if stopped else ""))
    if args.eval and not stopped:
        from mcpt.evaluation.run import run_eval

        gt = scenes[0].ground_truth if single else Path(args.scene)
        if single and gt is None:
            log.warning("no ground_truth.txt in %s; nothing to evaluate", scenes[0].path)
        else:
            _, text = run_eval(gt, out)
            print(text.splitlines()[-1] if args.quiet else "\n" + text)
    return 0
