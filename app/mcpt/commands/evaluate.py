"""``mcpt eval``: AIC24 HOTA on ground-plane positions (and per-camera box HOTA / IDF1)."""

from __future__ import annotations

import argparse

from mcpt.commands.common import frame_base, positive_float

HELP = "score results against ground truth: HOTA, DetA, AssA, LocA on floor positions (official AIC24 protocol)"
EXAMPLE = "mcpt eval --gt scenes/scene_001/ground_truth.txt --pred r.txt"
DESCRIPTION = (
    "GT and PRED may be files (one scene), or GT a split/scene folder with ground_truth.txt per scene and PRED "
    "a folder of scene_XXX.txt or one merged submission file (split by the scenes' cameras). The default "
    "protocol reproduces NVIDIA's AIC24 Track 1 evaluator: each scene's cameras only, world x/y rounded to mm, "
    "the first row of each (frame, id), similarity 1 - d / 2 m, the headline the unweighted mean of scenes.\n\n"
    "example: mcpt eval --gt data/videos/val --pred results/track1_submission.txt --json scores.json"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--gt", required=True, help="ground_truth.txt, a scene folder or a split folder")
    p.add_argument("--pred", required=True, help="results file, results folder, or merged submission")
    p.add_argument(
        "--protocol",
        choices=("aic24", "mean"),
        default="aic24",
        help="aic24 (default): the official evaluator; mean: an identity's mean position over its cameras, "
        "similarity 1 - d / tau, scenes pooled",
    )
    p.add_argument("--tau", type=positive_float, help="--protocol mean: metres at which similarity reaches 0 (1.0)")
    p.add_argument(
        "--scene-cameras",
        metavar="JSON",
        help="the official kit's scene -> camera ids file (default: the cameras in each scene's ground truth)",
    )
    p.add_argument("--strict", action="store_true", help="turn every warning about the inputs into an error")
    p.add_argument("--boxes", action="store_true", help="also per-camera box HOTA and IDF1 with global ids")
    p.add_argument("--json", dest="json_out", help="write the scores as JSON here")
    frame_base(p, "--frame-base", "results")
    frame_base(p, "--gt-frame-base", "ground-truth")


def main(args: argparse.Namespace) -> int:
    from mcpt.evaluation.run import run_eval

    _, text = run_eval(
        args.gt,
        args.pred,
        protocol=args.protocol,
        tau=args.tau,
        boxes=args.boxes,
        json_out=args.json_out,
        gt_frame_base=args.gt_frame_base,
        frame_base=args.frame_base,
        scene_cameras=args.scene_cameras,
        strict=args.strict,
    )
    print(text)
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0
