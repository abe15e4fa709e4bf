"""``mcpt eval``: AIC24 HOTA on ground-plane positions (and per-camera box HOTA / IDF1)."""

from __future__ import annotations

import argparse

from mcpt.commands.common import frame_base, positive_float

HELP = "score results against ground truth: HOTA, DetA, AssA, LocA on floor positions (AIC24)"
DESCRIPTION = (
    "GT and PRED may be files (one scene), or GT a split/scene folder with ground_truth.txt per scene and PRED "
    "a folder of scene_XXX.txt or one merged submission file (split by camera ids)."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gt", required=True, help="ground_truth.txt, a scene folder or a split folder")
    p.add_argument("--pred", required=True, help="results file, results folder, or merged submission")
    p.add_argument(
        "--tau", type=positive_float, default=1.0, help="distance in metres at which similarity reaches 0 (default 1.0)"
    )
    p.add_argument("--boxes", action="store_true", help="also per-camera box HOTA and IDF1 with global ids")
    p.add_argument("--json", dest="json_out", help="write the scores as JSON here")
    frame_base(p, "--frame-base", "results")
    frame_base(p, "--gt-frame-base", "ground-truth")


def main(args: argparse.Namespace) -> int:
    from mcpt.evaluation.run import run_eval

    _, text = run_eval(
        args.gt,
        args.pred,
        tau=args.tau,
        boxes=args.boxes,
        json_out=args.json_out,
        gt_frame_base=args.gt_frame_base,
        frame_base=args.frame_base,
    )
    print(text)
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0
