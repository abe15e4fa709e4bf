"""``mcpt demo``: the embedded default, end to end on real video, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcpt.commands.common import add_pose_arg, pose_setting, positive_int
from mcpt.errors import InputError

HELP = "run the full CPU pipeline on a multi-camera scene cut from a real pedestrian video (offline)"
EXAMPLE = "mcpt demo --out demo_out"
DESCRIPTION = (
    "Builds three overlapping virtual cameras from Debian opencv-doc's vtest.avi (exact calibrations), runs "
    "the CPU pipeline with the default models, and writes results, a tiled video, a bird's-eye view and a summary. "
    "Then scores itself: the same pipeline on a small photoreal scene (vtest.avi's people composited into "
    "calibrated cameras, exact ground truth), HOTA by the official AIC24 protocol."
)
# the scored scene: small enough for a demo (about two minutes on 2 cores), large enough to mean something
PHOTOREAL = {"cameras": 3, "people": 8, "seed": 7, "image_size": (1280, 720), "hfov": (50.0, 70.0)}
# walkers cut from the first 300 frames of vtest.avi: a smaller bank, built once (~2 min) and cached
PHOTOREAL_BANK_FRAMES = 300
# the demo's detector setting, picked from bench/results/pipeline.md's settings table: the fastest that
# keeps the cross-camera agreement and (nearly) every detection of the full setting
DEMO_DETECTOR = "person-yolov8-int8"
DEMO_INTERVAL = 1


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--frames", type=positive_int, default=300, help="source frames to use (default 300 = 30 s)")
    p.add_argument(
        "--detector",
        default=DEMO_DETECTOR,
        help=f"detector entry of models.yaml (default {DEMO_DETECTOR}; `person-yolov8` = the full-precision one)",
    )
    p.add_argument(
        "--interval",
        type=int,
        default=DEMO_INTERVAL,
        help=f"frames skipped between detections (detector.interval; default {DEMO_INTERVAL})",
    )
    p.add_argument(
        "--photoreal-seconds",
        type=float,
        default=20.0,
        help="length of the scored photoreal scene (default 20; 0 = leave the scoring out)",
    )
    add_pose_arg(p)


def main(args: argparse.Namespace) -> int:
    from mcpt.demo import build_demo_scene, consistency
    from mcpt.pipeline import run_cpu
    from mcpt.scene.cameras import cameras_from_scene
    from mcpt.scene.layout import discover_scene
    from mcpt.scene.results import read_rows
    from mcpt.summary import pipeline_report

    out = Path(args.out)
    detector, cfg = demo_setting(args.detector, args.interval)
    cfg, pose = pose_setting(args, cfg)
    scene = discover_scene(build_demo_scene(out / "scene", frames=args.frames))
    results = out / "results" / f"{scene.name}.txt"
    res = run_cpu(
        scene.name,
        cameras_from_scene(scene),
        cfg,
        results,
        video=out / "tiled.mp4",
        bev=out / "bev.png",
        progress=not args.quiet,
        detector=detector,
        pose=pose,
    )
    report = pipeline_report(res)
    c = consistency(scene.path, read_rows(results))
    lines = [
        report,
        f"detector: {args.detector if detector else 'the default'}, interval {args.interval}"
        + (f"; pose: {pose or 'the default'}" if cfg.pose.enabled else ""),
        "",
        f"cross-camera consistency: {c.pairs} pairs of detections of one person in two cameras; same global id in "
        f"{100 * c.same_id_share:.1f}%; their floor positions differ by {c.world_median_m:.2f} m (median)",
        "",
        f"results: {results}",
        f"tiled video: {out / 'tiled.mp4'}",
        f"bird's-eye view: {out / 'bev.png'}",
    ]
    final = lines[3]  # the consistency line; the photoreal score when there is one
    if args.photoreal_seconds > 0:
        photoreal = score_on_photoreal(
            out / "photoreal", args.photoreal_seconds, not args.quiet, cfg=cfg, detector=detector, pose=pose
        )
        lines += ["", *photoreal]
        final = photoreal[0]
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    print(final if args.quiet else text)
    return 0


def demo_setting(name: str, interval: int):
    """(detector ONNX path or None for the default, config) of the demo's detector setting."""
    import logging

    from mcpt.config import load_config
    from mcpt.models.manifest import load_manifest

    cfg = load_config(overrides=[f"detector.interval={interval}"])
    spec = load_manifest().get(name)
    if spec.role != "detector":
        raise InputError(None, f"{name} is a {spec.role} model, expected a detector", field="--detector")
    if not spec.onnx.is_file():
        logging.getLogger(__name__).warning("%s not exported (make models): the default detector runs", spec.onnx)
        return None, cfg
    return spec.onnx, cfg


def score_on_photoreal(
    out: Path,
    seconds: float,
    progress: bool,
    bank=None,
    cfg=None,
    detector: Path | None = None,
    pose: str | Path | None = None,
) -> list[str]:
    """Render (or reuse) the small photoreal scene, run the pipeline on its videos, score it.

    ``bank``: the sprites to render (default: walkers cut from vtest.avi, cached); ``cfg`` and
    ``detector``: the setting to score (default: the default configuration and detector); ``pose``: a pose
    ONNX file in place of the manifest's (where ``cfg.pose.enabled``).
    """
    from mcpt.config import load_config
    from mcpt.evaluation.run import run_eval
    from mcpt.pipeline import run_cpu
    from mcpt.scene.cameras import cameras_from_scene
    from mcpt.scene.layout import discover_scene
    from mcpt.simulate.params import make_params
    from mcpt.simulate.scene import write_scene
    from mcpt.simulate.sprites import sprite_bank
    from mcpt.timebase import DEFAULT_FPS

    frames = max(1, round(seconds * DEFAULT_FPS))
    scene_dir = out / "scene_001"
    meta = scene_dir / "scene.json"
    if not (meta.is_file() and json.loads(meta.read_text()).get("frames") == frames):
        params = make_params(
            "medium",
            cameras=PHOTOREAL["cameras"],
            frames=frames,
            fps=DEFAULT_FPS,
            seed=PHOTOREAL["seed"],
            image_size=PHOTOREAL["image_size"],
            hfov_range_deg=PHOTOREAL["hfov"],
            people_population=PHOTOREAL["people"],
        )
        if bank is None:
            bank = sprite_bank(max_frames=PHOTOREAL_BANK_FRAMES, progress=progress)
        write_scene(out, params, render=True, appearance="real", bank=bank, progress=progress)
    scene = discover_scene(scene_dir)
    results = out / "results.txt"
    res = run_cpu(
        scene.name,
        cameras_from_scene(scene),
        cfg or load_config(),
        results,
        progress=progress,
        detector=detector,
        pose=pose,
    )
    head = (
        f"scored on a photoreal scene ({PHOTOREAL['cameras']} cameras, {seconds:g} s, ~{PHOTOREAL['people']} people, "
        f"exact ground truth: {scene_dir}): "
    )
    if res.summary.rows == 0:
        return [head + "no identity was confirmed: nothing to score"]
    r, _ = run_eval(scene.ground_truth, results, boxes=True)
    b = r["boxes"]
    return [
        head + f"HOTA {r['HOTA']:.3f}, DetA {r['DetA']:.3f}, AssA {r['AssA']:.3f}, "
        f"LocA {r['LocA']:.3f} (official AIC24 protocol); boxes recall {b['CLR_Re']:.3f}, precision "
        f"{b['CLR_Pr']:.3f}, {int(b['IDSW'])} identity switches; {r['pred_ids']} identities for {r['gt_ids']} people; "
        f"{res.summary.steps / max(res.summary.wall_s, 1e-9):.1f} steps/s",
        f"  (the same as `mcpt eval --gt {scene.ground_truth} --pred {results} --boxes`; the renderer does not model "
        "viewpoints (every camera sees the same side of a person), lighting or shadows)",
    ]
