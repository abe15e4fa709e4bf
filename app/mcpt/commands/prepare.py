"""``mcpt prepare``: a detector dataset (YOLO layout) and a ReID dataset (Market-1501 layout) from labelled scenes."""

from __future__ import annotations

import argparse

from mcpt.commands.common import positive_int

HELP = "make a YOLO detector dataset and a Market-1501 ReID dataset from AIC24-layout scenes with ground truth"
EXAMPLE = "mcpt prepare AIC24/train --out datasets/aic24 --every 30"
DESCRIPTION = (
    "Writes OUT/det/ (images/{train,val}, labels/{train,val}, data.yaml: frames 0, N, 2N ..., one label per "
    "ground-truth box, the last --val-share of each video for validation) and OUT/reid/ (bounding_box_train/, "
    "query/, bounding_box_test/, identities.csv: identities split by a seeded shuffle, --test-share of them held "
    "out, at most --per-identity crops each). Streams each video once; run it again after an interruption to "
    "resume. data.yaml and reid/dataset.json appear only when everything is written."
)


def share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a scene (camera_XXXX/video.mp4 + ground_truth.txt) or a split of scenes")
    p.add_argument("--out", required=True, help="output folder (new or empty, or an unfinished one to resume)")
    p.add_argument("--what", default="det,reid", help="det, reid or det,reid (default both)")
    p.add_argument("--every", type=positive_int, default=30, help="detector: every Nth frame (default 30)")
    p.add_argument("--val-share", type=share, default=0.2, help="detector: last share of each video for val (0.2)")
    p.add_argument("--test-share", type=share, default=0.25, help="reid: share of identities held out (0.25)")
    p.add_argument("--per-identity", type=positive_int, default=100, help="reid: most crops per identity (100)")
    p.add_argument("--min-height", type=positive_int, default=32, help="reid: smallest crop height, px (32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the identity split (default 0)")


def main(args: argparse.Namespace) -> int:
    from mcpt.datasets.plan import PrepareOptions
    from mcpt.datasets.prepare import prepare

    opts = PrepareOptions(
        what=tuple(w.strip() for w in args.what.split(",") if w.strip()),
        every=args.every,
        val_share=args.val_share,
        test_share=args.test_share,
        per_identity=args.per_identity,
        min_height=args.min_height,
        seed=args.seed,
    )
    summary = prepare(args.source, args.out, opts, progress=not args.quiet)
    print("\n".join(summary.lines()))
    return 0
