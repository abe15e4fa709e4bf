"""``mcpt track``: run the association core on cached perception (replay) and write AIC24 results."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mcpt.commands.common import add_publish_args, add_run_control, positive_float

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
    p.add_argument("--out", help="results file for one scene, or a folder for a split (not needed with --publish)")
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
    add_publish_args(p)
    p.add_argument(
        "--realtime",
        action="store_true",
        help="with --publish: publish each step when its time comes, as live cameras would (default: at once)",
    )
    p.add_argument("--origin", type=float, metavar="EPOCH", help="with --realtime: when stream time 0 is (default now)")


def node_publisher(url, source, origin: float = 0.0):
    """The NodePublisher of a replay node: its cameras registered with what the associator needs."""
    from mcpt.bus.node import NodePublisher

    cams = {
        cam.camera_id: {
            "fps": source.rates[cam.camera_id], "dim": source.dim, "detector": p.detector, "reid": p.reid,
            "origin": origin,
        }
        for cam, p, _ in source.cameras
    }  # fmt: skip
    return NodePublisher(url, source.scene.name, cams, origin)


def publish_scene(scene, url, cfg, progress=True, fps=None, perception=None, strict=False, camera_ids=None,
                  realtime=False, origin=None):  # fmt: skip
    """A perception node without association: every step's observations to the broker; ``realtime``: each
    step when its time comes (from ``origin``, epoch seconds, default now), as a live node would."""
    import time

    from mcpt.backends.replay import ReplaySource
    from mcpt.loop import Progress
    from mcpt.stopping import StopRequest

    source = ReplaySource(scene, cfg.for_scene(scene.name), fps=fps, perception=perception, strict=strict,
                          camera_ids=camera_ids)  # fmt: skip
    if realtime and origin is None:
        origin = time.time()
    node = node_publisher(url, source, origin or 0.0)
    bar = Progress(scene.name, source.num_steps, progress)
    stop = StopRequest(None)
    with stop:
        for batch in source:
            if realtime:
                time.sleep(max(0.0, origin + batch.time_s - time.time()))
            node.step(batch)
            bar.update()
            if stop.requested:
                break
    bar.close()
    node.close()
    return node


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
    camera_ids: list[int] | None = None,
    publish=None,
):
    """(run summary, camera rows) of one scene; ``publish``: a BusURL this node also publishes to."""
    from mcpt.association.baseline import WorldDistanceBaseline
    from mcpt.association.core import Associator
    from mcpt.backends.replay import ReplaySource
    from mcpt.loop import run_association

    cfg = cfg.for_scene(scene.name)
    source = ReplaySource(scene, cfg, fps=fps, perception=perception, strict=strict, camera_ids=camera_ids)
    assoc = WorldDistanceBaseline(fps=source.fps) if baseline else Associator(source.cfg.association, fps=source.fps)
    node = node_publisher(publish, source) if publish is not None else None
    batches = source if node is None else _published(source, node)
    summary = run_association(
        batches, assoc, out, scene.name, total=source.num_steps, progress=progress, source_stage="track",
        duration=duration,
    )  # fmt: skip
    if node is not None:
        node.close()
        log.info("%s", node.summary())
    return summary, source.camera_rows()


def _published(batches, node):
    for batch in batches:
        node.step(batch)
        yield batch


def main(args: argparse.Namespace) -> int:
    from mcpt.errors import InputError
    from mcpt.scene.layout import discover_scenes
    from mcpt.summary import association_notes, run_table, stage_table
    from mcpt.table import format_table, tail_note

    cfg = config_from_args(args)
    scenes = discover_scenes(args.scene)
    url = None
    if args.publish:
        from mcpt.bus.redis_bus import BusURL

        url = BusURL.parse(args.publish, "--publish")
        if len(scenes) != 1:
            raise InputError(args.scene, "a node publishes one scene; name a scene folder", field="--publish")
        if not args.associate:
            node = publish_scene(scenes[0], url, cfg, not args.quiet, args.fps, args.perception, args.strict,
                                 args.camera_ids, args.realtime, args.origin)  # fmt: skip
            print(f"{scenes[0].name}: {node.summary()}")
            return 0
    elif args.associate:
        raise InputError(None, "--associate goes with --publish", field="--associate")
    if not args.out:
        raise InputError(None, "required (a results file, or a folder for a split)", field="--out")
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
            camera_ids=args.camera_ids,
            publish=url,
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
