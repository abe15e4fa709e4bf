"""``mcpt engines``: TensorRT engines for every exported model, named so DeepStream never rebuilds them."""

from __future__ import annotations

import argparse
import sys

from mcpt.commands.common import positive_int

HELP = "build TensorRT engines (FP16/INT8) for the manifest's ONNX models, named as nvinfer expects"
EXAMPLE = "mcpt engines --precision fp16"
EXIT_NO_TENSORRT = 3


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help="only these manifest entries (default: every exported model)")
    p.add_argument("--manifest", help="manifest file (default models/models.yaml)")
    p.add_argument(
        "--cameras",
        type=positive_int,
        default=4,
        help="cameras per scene: the detector's batch-size and optimisation point (default 4)",
    )
    p.add_argument("--max-batch", type=positive_int, help="largest detector batch to allow (default = --cameras)")
    p.add_argument(
        "--reid-batch", type=positive_int, default=64, help="ReID objects per batch (the SGIE's batch-size, default 64)"
    )
    p.add_argument(
        "--pose-batch",
        type=positive_int,
        default=64,
        help="pose objects per batch (the pose SGIE's batch-size, mcpt ds-config --pose-batch; default 64)",
    )
    p.add_argument("--precision", choices=("fp16", "int8", "fp32"), default="fp16", help="default fp16")
    p.add_argument("--calib-scene", help="a scene folder whose videos calibrate INT8 (cache kept beside the ONNX)")
    p.add_argument("--calib-frames", type=positive_int, default=64, help="frames for INT8 calibration")
    p.add_argument("--gpu", type=int, default=0, help="GPU id (part of the engine file name)")
    p.add_argument("--workspace", type=float, default=4.0, help="builder workspace in GiB")
    p.add_argument("--no-export", action="store_true", help="do not (re-)export missing ONNX files first")


def main(args: argparse.Namespace) -> int:
    from mcpt.models.manifest import load_manifest
    from mcpt.table import format_table

    manifest = load_manifest(args.manifest)
    if not args.no_export:
        from mcpt_export.models import export_manifest

        for r in export_manifest(manifest, args.names or None):
            print(f"{r.spec.name}: {r.status} {r.detail}")
    from mcpt_export import engines as eng
    from mcpt_export.torch_utils import check_batch_axis

    plan = []
    for name in args.names or list(manifest.models):
        spec = manifest.get(name)
        if not spec.onnx.is_file():
            continue
        check_batch_axis(spec.onnx)  # a fixed batch cannot serve nvinfer's batch-size
        # the detector batches the cameras' frames; each SGIE batches people (opt: a typical frame's few)
        batch = {"detector": args.cameras, "pose": args.pose_batch}.get(spec.role, args.reid_batch)
        opt = args.cameras if spec.role == "detector" else min(16, batch)
        profile = eng.batch_profile(batch, opt, args.max_batch if spec.role == "detector" else None)
        plan.append((spec, profile, eng.engine_path(spec.onnx, batch, args.gpu, args.precision)))
    if not plan:
        print("no exported ONNX models; run `make models` first", file=sys.stderr)
        return 2
    calib_cache = {spec.name: spec.onnx.with_suffix(".int8.cache") for spec, _, _ in plan}
    if eng.import_tensorrt() is None:
        commands = [
            eng.trtexec_command(
                spec.onnx,
                path,
                profile,
                args.precision,
                args.gpu,
                calib_cache[spec.name] if args.precision == "int8" else None,
            )
            for spec, profile, path in plan
        ]
        trtexec = eng.find_trtexec()
        if trtexec is not None and (args.precision != "int8" or all(c.is_file() for c in calib_cache.values())):
            # the DeepStream images ship trtexec but not always TensorRT's Python package
            for cmd in commands:
                print(f"building with {trtexec}: {cmd}")
                eng.run_trtexec(trtexec, cmd)
            print("engines built with trtexec (tensor names not verified: the tensorrt Python package is missing)")
            return 0
        print(
            "mcpt engines: TensorRT (the `tensorrt` Python package, version 10) is not importable here, so no "
            "engine was built; the ONNX files are ready. Build inside the DeepStream container (see the "
            "Dockerfile), or run these equivalent commands where trtexec is installed:",
            file=sys.stderr,
        )
        for cmd in commands:
            print(cmd)
        return EXIT_NO_TENSORRT
    rows = []
    for spec, profile, path in plan:
        calibrator = None
        if args.precision == "int8":
            from mcpt_export.calibration import calibration_batches

            batches, shape = calibration_batches(spec, args.calib_scene, args.calib_frames, profile.opt)
            calibrator = eng.make_entropy_calibrator(batches, calib_cache[spec.name], shape)
        eng.build_engine(spec.onnx, path, profile, args.precision, calibrator, args.workspace, args.gpu)
        rows.append([spec.name, path.name, f"{profile.min}/{profile.opt}/{profile.max}", args.precision, "verified"])
    print(format_table(["model", "engine", "batch min/opt/max", "precision", "tensors"], rows))
    return 0
