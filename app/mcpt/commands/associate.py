"""``mcpt associate``: the association service over a message bus (perception nodes publish, it associates)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcpt.commands.common import positive_float
from mcpt.commands.track import add_config_args

HELP = "association service: read perception nodes' camera streams from Redis, write results, publish tracks"
EXAMPLE = "mcpt associate --from redis://127.0.0.1:6379/site --camera 1 --camera 2 --out r.txt"
DESCRIPTION = (
    "Reads every camera's stream (PREFIX:camera:<id>, published by `mcpt track|run --publish`) through a consumer "
    "group, forms time steps by timestamp as the one-process pipeline does, runs the association core, appends "
    "each step's rows to --out and publishes the tracks (nv.Frame, global ids and fused floor positions) to "
    "--publish. Messages are acknowledged once their rows are written; a snapshot (OUT.snapshot) every few "
    "seconds and on SIGINT/SIGTERM lets a restarted service go on where it was: ids continue, no row is lost or "
    "doubled. It ends when every camera's node has ended its stream."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", required=True, metavar="redis://HOST:PORT/PREFIX", help="the nodes' bus")
    cams = p.add_mutually_exclusive_group(required=True)
    cams.add_argument("--camera", dest="camera_ids", type=int, action="append", metavar="ID", help="a camera (repeat)")
    cams.add_argument("--scene", help="every camera of this scene folder (camera_XXXX/)")
    p.add_argument("--out", required=True, help="results file (AIC24 rows)")
    p.add_argument("--publish", metavar="redis://HOST:PORT/STREAM", help="publish tracks to this stream")
    p.add_argument("--fps", type=positive_float, help="processing rate (default: the slowest camera's)")
    p.add_argument("--live", action="store_true", help="live cameras: a step waits at most 1 s for a late camera")
    p.add_argument("--group", default="mcpt-associate", help="consumer group (default mcpt-associate)")
    p.add_argument("--consumer", default="associate-1", help="consumer name in the group (default associate-1)")
    p.add_argument("--snapshot", help="snapshot file (default OUT.snapshot)")
    p.add_argument("--snapshot-every", type=positive_float, default=5.0, metavar="SECONDS", help="(default 5 s)")
    p.add_argument("--eval", action="store_true", help="with --scene: score against its ground_truth.txt at the end")
    add_config_args(p)


def main(args: argparse.Namespace) -> int:
    from mcpt.bus.redis_bus import BusURL
    from mcpt.bus.service import AssociationService, ServiceOptions
    from mcpt.commands.track import config_from_args
    from mcpt.loop import Progress
    from mcpt.stopping import StopRequest

    url = BusURL.parse(args.source, "--from")
    if args.scene:
        from mcpt.scene.layout import discover_scene

        scene = discover_scene(args.scene)
        cameras = scene.camera_ids
    else:
        scene, cameras = None, sorted(set(args.camera_ids))
    opts = ServiceOptions(
        cameras=cameras,
        fps=args.fps,
        group=args.group,
        consumer=args.consumer,
        snapshot=Path(args.snapshot) if args.snapshot else None,
        snapshot_every_s=args.snapshot_every,
        live=args.live,
        publish=BusURL.parse(args.publish, "--publish") if args.publish else None,
    )
    out = Path(args.out)
    service = AssociationService(url, config_from_args(args), out, opts)
    bar = Progress("associate", None, not args.quiet)
    stop = StopRequest(None)
    try:
        with stop:
            summary = service.run(stop, progress=lambda loop: bar.update(lambda: {"ids": loop.identities}))
    finally:
        bar.close()
    resumed = f", resumed at step {service.resumed_at}" if service.resumed_at is not None else ""
    late = sum(service.late.values())
    where = f"-> {out}" if not stop.requested else f"-> {out}.partial (stopped; a restart resumes from the snapshot)"
    rate = f"{summary.observations / summary.wall_s:.0f} obs/s" if summary.wall_s > 0 else "-"
    print(
        f"{summary.steps} steps, {summary.observations} observations, {summary.identities} identities, "
        f"{summary.rows} rows{resumed}; {summary.wall_s:.1f} s ({rate}); late frames {late}, "
        f"snapshots {service.snapshots}, broker retries {service.reader.retries} {where}"
    )
    if args.eval and scene is not None and scene.ground_truth is not None and out.is_file():
        from mcpt.evaluation.run import run_eval

        res, _ = run_eval(scene.ground_truth, out)
        print(f"HOTA {res['HOTA']:.4f}  DetA {res['DetA']:.4f}  AssA {res['AssA']:.4f} (official AIC24 protocol)")
    return 0
