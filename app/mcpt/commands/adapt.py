"""``mcpt adapt reid``: self-supervised adaptation of the ReID model to a site's own unlabelled video."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcpt.commands.common import positive_float, positive_int
from mcpt.commands.train import add_register_args

HELP = "adapt the ReID model to unlabelled video of a site (pseudo-identities from tracklets; needs install-export)"
EXAMPLE = "mcpt adapt reid site/scene_001 --minutes 10 --name reid-site --default"
DESCRIPTION = (
    "Runs the detector, the current ReID model and the single-camera tracker over each scene (the first "
    "--minutes), mines pseudo-identities from confident tracklets (two tracklets seen together in one camera "
    "are two people; tracklets of different cameras at one floor position at the same times are one), trains "
    "with mcpt train reid's losses from the current weights, and reports how well held-out tracklets separate "
    "before and after (same-person vs co-occurring different-people cosine similarity, AUC, halves rank-1). "
    "No label is used; a scene's ground truth, where present, only grades the mined identities afterwards."
)


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    r = sub.add_parser("reid", help="adapt a ReID model (default: models.yaml's)")
    r.add_argument("scenes", nargs="+", help="scene folders (camera_XXXX/video.mp4 + calibration.json) or splits")
    r.add_argument("--minutes", type=positive_float, help="use the first M minutes of each video (default: all)")
    r.add_argument(
        "--perception",
        metavar="NAME",
        help="mine the detections already recorded by `mcpt perceive --name NAME` (made with the same ReID model) "
        "instead of running the models again",
    )
    r.add_argument("--reid", help="models.yaml entry to adapt (default: the default reid)")
    r.add_argument("--epochs", type=positive_int, default=20, help="training epochs (default 20)")
    r.add_argument("--holdout", type=float, default=0.25, help="share of pseudo-identities held out to score (0.25)")
    r.add_argument("--max-link", type=positive_float, default=0.6, help="floor metres of a cross-camera link (0.6)")
    r.add_argument("--work", help="working folder for the mined crops (default: OUT without suffix + _work)")
    r.add_argument("--out", help="output .onnx (default models/<reid>_adapted.onnx)")
    r.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    r.add_argument("--max-steps", type=positive_int, help="stop training after this many steps (smoke runs)")
    r.add_argument("--seed", type=int, default=0)
    add_register_args(r, "reid")


def main(args: argparse.Namespace) -> int:
    from mcpt.errors import InputError

    try:
        import mcpt_export  # noqa: F401
    except ImportError:
        raise InputError(None, "adapting needs the training tools; run `make install-export`") from None
    from mcpt.adapt.mining import MiningOptions
    from mcpt.adapt.run import AdaptOptions, adapt_reid
    from mcpt.commands.train import register_result
    from mcpt.models.manifest import load_manifest, repo_root
    from mcpt.models.register import reid_entry
    from mcpt.scene.layout import discover_scenes

    if not 0 < args.holdout < 1:
        raise InputError(None, f"expected a share between 0 and 1, got {args.holdout}", field="--holdout")
    manifest = load_manifest()
    spec = manifest.get(args.reid) if args.reid else manifest.reid
    if spec.role != "reid":
        raise InputError(manifest.path, f"{spec.name} is a {spec.role} model, not a ReID model", field="--reid")
    scenes = [s for path in args.scenes for s in discover_scenes(path)]
    out = Path(args.out) if args.out else repo_root() / "models" / f"{spec.onnx.stem}_adapted.onnx"
    work = Path(args.work) if args.work else out.with_name(out.stem + "_work")
    opts = AdaptOptions(
        minutes=args.minutes,
        perception=args.perception,
        epochs=args.epochs,
        holdout_share=args.holdout,
        seed=args.seed,
        device=args.device,
        max_steps=args.max_steps,
        mining=MiningOptions(max_link_m=args.max_link),
    )
    r = adapt_reid(scenes, work, out, spec, opts, progress=not args.quiet)
    for s in r.scenes:
        m = s.mined
        line = (
            f"{s.scene.name}: {len(m.tracklets)} confident tracklets, {len(m.cannot)} cannot-links, "
            f"{len(m.must)} must-links -> {m.identities} pseudo-identities ({m.cross_camera_identities()} seen by "
            "several cameras)"
        )
        if s.purity is not None:
            must = "" if s.must_correct is None else f", must-links right {s.must_correct:.3f}"
            line += f"; graded by the ground truth (not used): crop purity {s.purity:.3f}{must}"
        print(line)
    t = r.train
    print(
        f"trained on {r.train_identities} pseudo-identities ({r.train_crops} crops) for {len(t.history)} epochs, "
        f"{t.device}, {r.seconds:.0f} s in all; {r.heldout_tracklets} held-out tracklets"
    )
    if t.history:
        print(t.loss_line())
    print(f"  held-out before: {r.before.line()}")
    print(f"  held-out after:  {r.after.line()}")
    scale = r.after.appearance_scale
    print(
        f"appearance scale x{scale:.2f} (held-out different people at a median cosine of "
        f"{r.after.different_median:.3f}; mcpt calibrate-reid)"
    )
    print(t.wrote_line())
    entry = reid_entry(t.arch, t.onnx, t.checkpoint, t.height, t.width, t.dim) | {"appearance_scale": scale}
    register_result(args, "reid", out, entry,
                    f"adapted by mcpt adapt reid from {spec.name} on {', '.join(s.name for s in scenes)}")  # fmt: skip
    return 0
