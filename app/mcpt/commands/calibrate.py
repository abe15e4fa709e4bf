"""``mcpt calibrate-detector``: fit the score thresholds to a detector, from its recorded output on ground truth."""

from __future__ import annotations

import argparse

HELP = "measure a detector's recall/precision per score on scenes with ground truth and set its operating points"
EXAMPLE = "mcpt calibrate-detector scenes/scene_021"
DESCRIPTION = (
    "Reads camera_XXXX/perception_NAME.npz recorded by `mcpt perceive` (the detector's boxes above a low score, "
    "each matched to the ground truth), prints recall, precision and F1 per threshold and the operating points "
    "they give (track_high = best F1, new_track = 90% precise, track_low = 50% precise) and the correction "
    "that makes its boxes as wide as the people, and with --write stores them in models.yaml for the detector, "
    "where `mcpt run`, `mcpt perceive` and the DeepStream backend take them from.\n\n"
    "example: mcpt perceive calib/scene_001 --name real && mcpt calibrate-detector calib/scene_001 --write"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("scenes", nargs="+", help="scene or split folders with ground_truth.txt")
    p.add_argument("--perception", default="real", help="the recorded perception's name (default real)")
    p.add_argument("--min-height", type=float, default=0.0, help="only people at least this tall, pixels (0)")
    p.add_argument("--write", action="store_true", help="store the operating points in models.yaml")
    p.add_argument("--model", help="the manifest entry to write (default: the one that recorded the perception)")


def main(args: argparse.Namespace) -> int:
    from mcpt.backends.replay import load_perception
    from mcpt.errors import InputError
    from mcpt.models.calibrate import choose_operating_points, score_curve, write_operating_points
    from mcpt.models.manifest import load_manifest
    from mcpt.scene.layout import discover_scenes
    from mcpt.table import format_table

    scenes = [s for path in args.scenes for s in discover_scenes(path)]
    curve = score_curve(scenes, args.perception, args.min_height)
    rows = [
        [f"{t:.2f}", r, p, f]
        for t, r, p, f in zip(curve.thresholds, curve.recall, curve.precision, curve.f1, strict=True)
    ]
    print(format_table(["score >=", "recall", "precision", "F1"], rows, digits=3))
    print(f"\n{curve.gt_boxes} ground-truth boxes; median score of a detected person: {_median(curve.tp_scores):.3f}")
    print(
        f"matched boxes against the truth (median): width x{_median(curve.width_ratio):.2f}, bottom "
        f"{_median(curve.bottom_offset):+.3f} and centre {_median(curve.centre_offset):+.3f} (of the true height/width)"
    )
    print(f"box width correction: x{curve.box_width_scale:.3f} (recorded with x{curve.recorded_width_scale:.3f})")
    op = choose_operating_points(curve)
    print(
        f"operating points: track_high {op.track_high:.2f}, track_low {op.track_low:.2f}, "
        f"new_track {op.new_track:.2f}, cluster_min_score {op.cluster_min_score:.2f}"
    )
    if args.write:
        manifest = load_manifest()
        name = args.model
        if name is None:
            cam = scenes[0].cameras[0]
            name = load_perception(cam.perception_file(args.perception), cam.camera_id).detector
        if name not in manifest.models or manifest.models[name].role != "detector":
            raise InputError(manifest.path, f"no detector {name!r} to write; name one with --model", field="models")
        note = f"mcpt calibrate-detector {' '.join(args.scenes)} ({curve.gt_boxes} ground-truth boxes)"
        write_operating_points(manifest.path, name, op, note, curve.box_width_scale)
        print(f"wrote models.{name}.operating_points and box_width_scale in {manifest.path}")
    return 0


def _median(x) -> float:
    import numpy as np

    return float(np.median(x)) if len(x) else float("nan")
