"""``mcpt ds-config``: a deepstream-app configuration for one scene (or a list of live cameras)."""

from __future__ import annotations

import argparse

from mcpt.commands.common import positive_float, positive_int

HELP = "write a complete deepstream-app config (+ nvinfer and tracker configs) for a scene's cameras"
EXAMPLE = "mcpt ds-config scenes/scene_001 --out ds_configs --sink file"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", nargs="?", help="scene folder (camera_XXXX/video.mp4); or use --cameras")
    p.add_argument("--cameras", help="cameras.yaml of live RTSP cameras instead of a scene folder")
    p.add_argument(
        "--rtsp",
        metavar="TEMPLATE",
        help="serve the scene's cameras from RTSP URIs, e.g. rtsp://10.0.0.5:8554/camera_{camera:04d}",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--width", type=positive_int, default=1920, help="streammux width (default 1920)")
    p.add_argument("--height", type=positive_int, default=1080, help="streammux height (default 1080)")
    p.add_argument("--gpu", type=int, default=0, help="GPU id (default 0)")
    p.add_argument("--precision", choices=("fp16", "int8", "fp32"), default="fp16", help="engine precision")
    p.add_argument("--reid-batch", type=positive_int, default=64, help="ReID SGIE batch size (default 64)")
    p.add_argument("--tracker-reid", action="store_true", help="let nvtracker compute ReID vectors (no SGIE)")
    p.add_argument(
        "--pose",
        action="store_true",
        help="add a pose SGIE (the manifest's pose model: body keypoints on every tracked person)",
    )
    p.add_argument("--pose-batch", type=positive_int, default=64, help="pose SGIE batch size (default 64)")
    p.add_argument("--sink", choices=("fake", "file", "rtsp"), default="fake", help="sink0 of deepstream-app")
    p.add_argument(
        "--encoder",
        choices=("hw", "sw"),
        default="hw",
        help="file/RTSP sinks: hw (NVENC, default) or sw (x264: A100, H100 and H200 have no NVENC)",
    )
    p.add_argument("--msgbroker", metavar="HOST;PORT", help="add a Kafka message-broker sink")
    p.add_argument("--topic", default="mcpt", help="message-broker topic (default mcpt)")
    p.add_argument("--fps", type=positive_float, default=30.0, help="camera frame rate (live batching timeout)")
    p.add_argument(
        "--interval",
        type=int,
        default=0,
        help="nvinfer interval: frames skipped between detections, as mcpt's detector.interval (default 0)",
    )


def main(args: argparse.Namespace) -> int:
    from mcpt.backends.deepstream.config_gen import DsOptions, generate
    from mcpt.backends.deepstream.pipeline import SourceSpec
    from mcpt.errors import InputError
    from mcpt.models.manifest import load_manifest
    from mcpt.scene.cameras import cameras_from_yaml

    if bool(args.scene) == bool(args.cameras):
        raise InputError(None, "give either a SCENE folder or --cameras cameras.yaml")
    if args.cameras:
        name, cams, _ = cameras_from_yaml(args.cameras)
        sources = [SourceSpec(c.camera_id, c.uri) for c in cams]
    else:
        from mcpt.scene.layout import discover_scene

        scene = discover_scene(args.scene)
        name = scene.name
        if args.rtsp:
            try:
                sources = [SourceSpec(c.camera_id, args.rtsp.format(camera=c.camera_id)) for c in scene.cameras]
            except (KeyError, IndexError, ValueError) as e:
                raise InputError(
                    None, f"bad URI template ({e}); use {{camera}} for the camera number", field="--rtsp"
                ) from None
        else:
            missing = [c.name for c in scene.cameras if c.video is None]
            if missing:
                raise InputError(scene.path, f"no video in {', '.join(missing)}; expected camera_XXXX/video.mp4")
            sources = [SourceSpec(c.camera_id, str(c.video)) for c in scene.cameras]
    opts = DsOptions(
        muxer_width=args.width,
        muxer_height=args.height,
        gpu_id=args.gpu,
        precision=args.precision,
        reid_batch=args.reid_batch,
        tracker_reid=args.tracker_reid,
        pose=args.pose,
        pose_batch=args.pose_batch,
        interval=args.interval,
        sink=args.sink,
        encoder=args.encoder,
        msgbroker=args.msgbroker,
        topic=args.topic,
        fps=args.fps,
    )
    g = generate(name, sources, load_manifest(), args.out, opts)
    for f in g.files:
        print(f"wrote {f}")
    engines = [g.detector_engine.name, g.reid_engine.name, *([g.pose_engine.name] if g.pose_engine else [])]
    pose_batch = f" --pose-batch {args.pose_batch}" if args.pose else ""
    print(
        f"engines it expects: {', '.join(engines)} (build them with `mcpt engines --cameras {len(sources)} "
        f"--reid-batch {args.reid_batch}{pose_batch} --precision {args.precision} --gpu {args.gpu}`)"
    )
    print(f"run: deepstream-app -c {g.app}")
    return 0
