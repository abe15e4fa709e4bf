"""``mcpt train``: fine-tune the detector or train a ReID model on a prepared dataset (needs make install-export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcpt.commands.common import positive_int

HELP = "train a detector (YOLO dataset) or a ReID model (Market-1501 dataset), export it to ONNX and register it"
EXAMPLE = "mcpt train reid datasets/aic24/reid --epochs 60 --name reid-aic24"
DESCRIPTION = (
    "detector: Ultralytics training offline from models.yaml's detector (or --model), exported with mcpt's "
    "exporter and added to models.yaml. reid: the reference's recipe (cross-entropy with label smoothing + "
    "batch-hard triplet, P x K batches, random erasing, Adam 3.5e-4 with a cosine second half) from the "
    "shipped ImageNet MobileNetV2 (or --weights), rank-1/mAP before and after, exported and added to models.yaml."
)


def add_register_args(p: argparse.ArgumentParser, role: str) -> None:
    p.add_argument("--name", help="models.yaml entry to write (default: from the output file name)")
    p.add_argument("--default", action="store_true", help=f"make it models.yaml's default {role}")
    p.add_argument("--no-register", action="store_true", help="leave models.yaml alone")


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    r = sub.add_parser("reid", help="train a ReID model on a Market-1501-layout folder (mcpt prepare's reid/)")
    r.add_argument("dataset", help="folder with bounding_box_train/ (and query/, bounding_box_test/ to score)")
    r.add_argument("--arch", default="mobilenetv2", choices=("mobilenetv2", "osnet_x1_0", "resnet50_ibn"))
    r.add_argument("--epochs", type=positive_int, default=60, help="epochs (default 60, the reference's)")
    r.add_argument("--ids-per-batch", type=positive_int, default=4, help="P identities per batch (default 4)")
    r.add_argument("--crops-per-id", type=positive_int, default=16, help="K crops per identity (default 16)")
    r.add_argument("--lr", type=float, default=3.5e-4, help="Adam learning rate (default 3.5e-4)")
    w = r.add_mutually_exclusive_group()
    w.add_argument("--weights", help="start from this checkpoint (default: the architecture's weights in models.yaml)")
    w.add_argument("--random-init", action="store_true", help="start from random weights")
    r.add_argument("--eval", help="score on this dataset's query/gallery (e.g. held-out scenes) instead of DATASET's")
    r.add_argument("--out", help="output .onnx (default models/reid_<arch>_<dataset>.onnx; .pt and .csv beside)")
    r.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    r.add_argument("--max-steps", type=positive_int, help="stop after this many steps (smoke runs)")
    r.add_argument("--seed", type=int, default=0)
    add_register_args(r, "reid")
    d = sub.add_parser("detector", help="fine-tune an Ultralytics YOLO detector on a YOLO dataset (prepare's det/)")
    d.add_argument("data", help="data.yaml")
    d.add_argument("--model", help="starting .pt (default: models.yaml's detector weights)")
    d.add_argument("--epochs", type=positive_int, default=30, help="epochs (default 30, the reference's)")
    d.add_argument("--imgsz", type=positive_int, default=640, help="training and export size (default 640)")
    d.add_argument("--batch", type=positive_int, default=16, help="images per batch (default 16)")
    d.add_argument("--device", default="auto", help="cpu, cuda (0) or auto (default)")
    d.add_argument("--out", help="output .onnx (default models/<name>.onnx; the .pt beside)")
    d.add_argument("--max-steps", type=positive_int, help="stop after this many batches (smoke runs)")
    d.add_argument("--workers", type=int, default=0, help="data loader workers (default 0)")
    add_register_args(d, "detector")


def main(args: argparse.Namespace) -> int:
    from mcpt.errors import InputError

    try:
        import mcpt_export  # noqa: F401
    except ImportError:
        raise InputError(None, "training needs the export tools; run `make install-export`") from None
    return _reid(args) if args.what == "reid" else _detector(args)


def _reid(args: argparse.Namespace) -> int:
    from mcpt.datasets.market import reid_root
    from mcpt.models.manifest import repo_root
    from mcpt.models.register import reid_entry
    from mcpt_export.reid_train import TrainOptions, train_reid

    root = reid_root(args.dataset)
    stem = root.parent.name if root.name == "reid" else root.name
    out = Path(args.out) if args.out else repo_root() / "models" / f"reid_{args.arch}_{stem}.onnx"
    opts = TrainOptions(
        arch=args.arch,
        epochs=args.epochs,
        ids_per_batch=args.ids_per_batch,
        crops_per_id=args.crops_per_id,
        lr=args.lr,
        weights=Path(args.weights) if args.weights else None,
        random_init=args.random_init,
        device=args.device,
        seed=args.seed,
        max_steps=args.max_steps,
        eval_dataset=Path(args.eval) if args.eval else None,
    )
    r = train_reid(root, out, opts, progress=not args.quiet)
    print(f"trained {r.arch} on {r.identities} identities ({r.crops} crops), {r.device}, {r.seconds:.0f} s")
    if r.history:
        print(f"{r.loss_line()} (first -> last epoch; per epoch in {r.log_csv})")
    if r.before is not None and r.after is not None:
        print(f"  query/gallery before: {r.before.line()}")
        print(f"  query/gallery after:  {r.after.line()}")
    print(r.wrote_line())
    register_result(args, "reid", out, reid_entry(r.arch, r.onnx, r.checkpoint, r.height, r.width, r.dim),
              f"trained by mcpt train reid on {root} ({r.identities} identities, {len(r.history)} epochs)")  # fmt: skip
    # a metric-trained model spreads people farther apart than the thresholds assume (mcpt.models.reid_calibrate)
    print(
        f"next: fit the association's appearance thresholds to it on a site's video: mcpt perceive SCENE "
        f"--name {r.onnx.stem} --reid {r.onnx} && mcpt calibrate-reid SCENE --perception {r.onnx.stem} --write"
    )
    return 0


def register_result(args: argparse.Namespace, role: str, out: Path, entry: dict, comment: str) -> None:
    from mcpt.models.register import register_model

    if args.no_register:
        return
    name = args.name or out.stem.replace("_", "-")
    register_model(name, entry, comment, default_role=role if args.default else None)
    print(f"registered {name!r} in models.yaml" + (f" as the default {role}" if args.default else ""))


def _detector(args: argparse.Namespace) -> int:
    from mcpt.models.manifest import repo_root
    from mcpt_export.detector_train import DetectorTrainOptions, train_detector

    opts = DetectorTrainOptions(
        model=Path(args.model) if args.model else None,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        max_steps=args.max_steps,
        workers=args.workers,
    )
    stem = Path(args.data).resolve().parent.parent.name or "trained"
    out = Path(args.out) if args.out else repo_root() / "models" / f"person_yolov8_{stem}.onnx"
    r = train_detector(Path(args.data), out, opts, progress=not args.quiet)
    print("\n".join(r.lines()))
    register_result(args, "detector", out, r.manifest_entry(), f"fine-tuned by mcpt train detector on {args.data}")
    return 0
