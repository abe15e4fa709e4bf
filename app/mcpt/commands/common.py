"""Argument helpers shared by commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcpt.errors import InputError


def image_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return w, h


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def frame_base(parser: argparse.ArgumentParser, flag: str = "--frame-base", what: str = "input") -> None:
    parser.add_argument(
        flag,
        type=int,
        choices=(0, 1),
        default=0,
        help=f"first frame id of the {what} file(s): 0 (AIC24 spec, default) or 1; output is 0-based",
    )


def distinct_outputs(**paths: str | None) -> None:
    """Two output options naming one file would overwrite each other: refuse before anything runs."""
    seen: dict[Path, str] = {}
    for option, value in paths.items():
        if not value or str(value).startswith("rtsp://"):
            continue
        key = Path(value).expanduser().resolve()
        flag = "--" + option.replace("_", "-")
        if key in seen:
            raise InputError(value, f"{seen[key]} and {flag} name the same file; give each its own path", field=flag)
        seen[key] = flag


def add_run_control(p: argparse.ArgumentParser) -> None:
    """The options every streaming command shares: how it stops and how strict it is about cameras."""
    p.add_argument(
        "--duration",
        type=positive_float,
        metavar="SECONDS",
        help="stop cleanly after this much wall time (live runs); SIGINT/SIGTERM also stop cleanly, twice aborts",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 3 when any camera cannot start (bad calibration, unreadable video, unreachable URI); "
        "by default such cameras are reported in the camera table and the others go on",
    )


def add_pose_arg(p: argparse.ArgumentParser) -> None:
    """``--pose [FILE]``: body keypoints on the confident boxes (the CPU backend's pose stage)."""
    p.add_argument(
        "--pose",
        nargs="?",
        const="",
        metavar="FILE",
        help="estimate body keypoints (COCO-17) of the confident boxes with models.yaml's pose model, or with "
        "the pose ONNX FILE (sets pose.enabled; put it after SCENE)",
    )


def pose_setting(args: argparse.Namespace, cfg):
    """(config with pose.enabled where --pose was given, the pose ONNX file or None for the manifest's)."""
    import dataclasses

    if getattr(args, "pose", None) is None:
        return cfg, None
    if args.pose and Path(args.pose).is_dir():
        # --pose takes an optional FILE: written before SCENE, it takes the scene folder for its file
        raise InputError(args.pose, "expected a pose ONNX file, got a folder (put --pose after SCENE)", field="--pose")
    return dataclasses.replace(cfg, pose=dataclasses.replace(cfg.pose, enabled=True)), args.pose or None


def add_publish_args(p: argparse.ArgumentParser) -> None:
    """A perception node's options: publish each camera's observations to a broker (docs/scaling.md)."""
    p.add_argument(
        "--publish",
        metavar="redis://HOST:PORT/PREFIX",
        help="perception node: publish every camera's observations (nv.Frame messages) to PREFIX:camera:<id> "
        "streams for `mcpt associate`; ?format=json for JSON, ?maxlen=N for the streams' cap (default 6000)",
    )
    p.add_argument(
        "--camera",
        dest="camera_ids",
        type=int,
        action="append",
        metavar="ID",
        help="only this camera of the scene (repeatable): the node's share of a site",
    )
    p.add_argument("--associate", action="store_true", help="with --publish: also associate here and write --out")
