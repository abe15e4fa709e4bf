"""``mcpt run``: the whole pipeline on video files or live RTSP cameras (CPU or DeepStream backend)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mcpt.commands.common import (
    add_pose_arg,
    add_publish_args,
    add_run_control,
    distinct_outputs,
    pose_setting,
    positive_float,
    positive_int,
)
from mcpt.commands.track import add_config_args, config_from_args

HELP = "detect, track and associate people live from videos or RTSP cameras (CPU or DeepStream backend)"
EXAMPLE = (
    "mcpt run scenes/scene_001 --out r.txt --video tiled.mp4 --bev bev.png\n"
    "  mcpt run --cameras cameras.yaml --out live.txt --duration 600 --set detector.interval=1"
)
DESCRIPTION = (
    "SCENE is a scene folder (camera_XXXX/video.mp4 + calibration.json) or a split folder of scenes; "
    "--cameras takes a YAML list of live cameras (id, uri, calibration) instead."
)
log = logging.getLogger(__name__)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", nargs="?", help="scene folder or split folder (omit with --cameras)")
    p.add_argument("--cameras", help="cameras.yaml for live RTSP cameras")
    p.add_argument("--backend", choices=("cpu", "deepstream"), default="cpu", help="default cpu (ONNX Runtime)")
    p.add_argument("--out", help="results file (one scene/live) or folder (split); not needed with --publish")
    p.add_argument("--video", help="write a tiled video of all cameras, boxes labelled by global id (.mp4)")
    p.add_argument("--bev", help="write the bird's-eye view: .png (trails) or .mp4 (per step)")
    p.add_argument("--frames", type=positive_int, help="stop after this many time steps")
    p.add_argument(
        "--fps", type=positive_float, help="processing rate (default: the videos' own, the slowest camera's; live: 10)"
    )
    p.add_argument("--jobs", type=positive_int, default=1, help="scenes of a split processed in parallel (CPU)")
    p.add_argument("--gpus", help="DeepStream: comma-separated GPU ids, one scene per GPU process")
    p.add_argument("--gpu-id", type=int, default=0, help="DeepStream: the GPU of this process (default 0)")
    p.add_argument(
        "--tracker-reid",
        action="store_true",
        help="DeepStream: embeddings from nvtracker's own ReID (no SGIE), which also re-associates its tracks",
    )
    p.add_argument(
        "--dump-observations",
        metavar="NPZ",
        help="DeepStream: also save every observation (camera, frame, box, score, embedding), for comparisons",
    )
    p.add_argument(
        "--encoder",
        choices=("auto", "hw", "sw"),
        default="auto",
        help="DeepStream --video: NVENC (hw), x264 (sw; A100/H100/H200 have no NVENC), or auto (default)",
    )
    p.add_argument("--detector", help="detector ONNX (default: models.yaml's detector)")
    p.add_argument("--reid", help="ReID ONNX (default: models.yaml's reid)")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime threads (default: all cores / jobs)")
    add_pose_arg(p)
    add_run_control(p)
    add_config_args(p)
    add_publish_args(p)


def main(args: argparse.Namespace) -> int:
    from mcpt.errors import InputError

    cfg, pose = pose_setting(args, config_from_args(args))
    if bool(args.scene) == bool(args.cameras):
        raise InputError(None, "give either a SCENE folder or --cameras cameras.yaml")
    url, associate = None, True
    if args.publish:
        from mcpt.bus.redis_bus import BusURL

        url, associate = BusURL.parse(args.publish, "--publish"), args.associate
        if args.backend != "cpu":
            raise InputError(None, "perception nodes run on the CPU backend here; DeepStream publishes through "
                             "nvmsgbroker (mcpt ds-config --msgbroker)", field="--publish")  # fmt: skip
        if not associate and (args.video or args.bev):
            raise InputError(None, "pictures need association here: add --associate", field="--video/--bev")
    elif args.associate:
        raise InputError(None, "--associate goes with --publish", field="--associate")
    if associate and not args.out:
        raise InputError(None, "required (a results file, or a folder for a split)", field="--out")
    distinct_outputs(out=args.out, video=args.video, bev=args.bev, dump_observations=args.dump_observations)
    if args.backend == "deepstream":
        from mcpt.backends.deepstream.run import main_deepstream

        return main_deepstream(args, cfg)
    from mcpt.pipeline import run_cpu
    from mcpt.scene.cameras import cameras_from_scene, cameras_from_yaml
    from mcpt.split_run import run_split
    from mcpt.summary import pipeline_report
    from mcpt.timebase import DEFAULT_FPS

    def run_one(name: str, cams, out, fps: float | None) -> int:
        if args.camera_ids:
            cams = [c for c in cams if c.camera_id in set(args.camera_ids)]
            if not cams:
                raise InputError(None, f"none of cameras {args.camera_ids} in {name}", field="--camera")
        res = run_cpu(
            name,
            cams,
            cfg,
            out,
            video=args.video,
            bev=args.bev,
            fps=fps,
            max_steps=args.frames,
            progress=not args.quiet,
            detector=args.detector,
            reid=args.reid,
            threads=args.threads,
            duration=args.duration,
            strict=args.strict,
            pose=pose,
            publish=url,
            associate=associate,
        )
        if not args.quiet and associate:
            print(pipeline_report(res))
        stopped = f" (stopped early: {res.summary.stopped})" if res.summary.stopped else ""
        print((f"wrote {out}" if associate else f"{name}: published to {args.publish}") + stopped)
        return 0

    if args.cameras:
        name, cams, fps = cameras_from_yaml(args.cameras)
        return run_one(name, cams, args.out, args.fps or fps or DEFAULT_FPS)
    from mcpt.scene.layout import discover_scenes

    scenes = discover_scenes(args.scene)
    if url is not None:
        if len(scenes) != 1:
            raise InputError(args.scene, "a node publishes one scene; name a scene folder", field="--publish")
        return run_one(scenes[0].name, cameras_from_scene(scenes[0]), args.out, args.fps)
    out = Path(args.out)
    if len(scenes) == 1 and out.suffix == ".txt":
        return run_one(scenes[0].name, cameras_from_scene(scenes[0]), out, args.fps)
    video_dir = args.video if args.video else None
    for report in run_split(
        scenes,
        cfg,
        out,
        jobs=args.jobs,
        video_dir=video_dir,
        progress=not args.quiet,
        detector=args.detector,
        reid=args.reid,
        max_steps=args.frames,
        fps=args.fps,
        strict=args.strict,
        pose=pose,
    ):
        if not args.quiet:
            print(report)
            print()
    from mcpt.scene.results import merge_results

    merged, n = merge_results(out)
    print(f"wrote {out}/scene_*.txt and {merged} ({n} rows)")
    return 0
