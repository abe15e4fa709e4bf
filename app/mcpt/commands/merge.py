"""``mcpt merge``: concatenate per-scene results into one submission file."""

from __future__ import annotations

import argparse

from mcpt.commands.common import frame_base

HELP = "merge RESULTS_DIR/scene_*.txt into track1_submission.txt, checking every row"
EXAMPLE = "mcpt merge results/"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("results_dir", help="folder with scene_XXX.txt files")
    p.add_argument("--out", help="output file (default RESULTS_DIR/track1_submission.txt)")
    frame_base(p, "--frame-base", "scene results")


def main(args: argparse.Namespace) -> int:
    from mcpt.scene.results import merge_results

    out, n = merge_results(args.results_dir, args.out, frame_base=args.frame_base)
    print(f"wrote {out} ({n} rows, frames 0-based)")
    return 0
