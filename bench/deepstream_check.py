#!/usr/bin/env python
"""The first thing to run on a DeepStream machine: does the DeepStream path see what the CPU path sees?

1. `mcpt doctor` must find the DeepStream path complete (else: the missing lines, and exit 2);
2. the demo scene (three virtual cameras cut from vtest.avi) is built; TensorRT engines for it;
3. `mcpt run --backend deepstream` on it (saving every observation), and `deepstream-app -c` on the
   configuration `mcpt ds-config` generates (it must start and end);
4. the CPU backend's view of the same videos (`mcpt perceive`, the same models on ONNX Runtime);
5. per camera: DeepStream's boxes matched to the CPU's (IoU), the cosine of their embeddings, and
   for both backends the cross-camera identity agreement of the demo (same global id for the same
   person seen by two cameras). A table, and bench/results/deepstream_check.md.

Usage: python bench/deepstream_check.py [--frames 150] [--work DIR] [--precision fp16]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MCPT = [sys.executable, "-m", "mcpt"]


def sh(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    print("$", " ".join(args), flush=True)
    return subprocess.run(list(args), text=True, capture_output=True, timeout=timeout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--work", default="ds_check")
    ap.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "int8"))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "deepstream_check.md"))
    args = ap.parse_args()

    from mcpt.doctor import run_checks, verdict

    checks = run_checks()
    if not verdict(checks)[1]:
        print("The DeepStream path is not available here; what is missing (mcpt doctor):")
        for c in checks:
            if c.path == "deepstream" and c.status == "missing":
                print(f"  {c.name}: {c.detail} -> {c.fix}")
        return 2

    from mcpt.demo import build_demo_scene, consistency
    from mcpt.geometry import iou_xywh
    from mcpt.scene.layout import discover_scene
    from mcpt.scene.results import read_rows
    from mcpt.table import format_table

    work = Path(args.work).resolve()
    scene = discover_scene(build_demo_scene(work / "scene", frames=args.frames))
    cams = len(scene.cameras)
    steps = [
        ("engines", [*MCPT, "engines", "--cameras", str(cams), "--precision", args.precision], 3600),
        (
            "mcpt run --backend deepstream",
            [*MCPT, "run", str(scene.path), "--backend", "deepstream", "--out", str(work / "ds.txt"),
             "--dump-observations", str(work / "ds_obs.npz")],
            1800,
        ),
        ("ds-config", [*MCPT, "ds-config", str(scene.path), "--out", str(work / "app")], 120),
        ("deepstream-app", ["deepstream-app", "-c", str(work / "app" / "deepstream_app.txt")], 1800),
        ("CPU perception", [*MCPT, "perceive", str(scene.path), "--name", "cpu"], 3600),
        ("CPU run", [*MCPT, "run", str(scene.path), "--out", str(work / "cpu.txt")], 3600),
    ]  # fmt: skip
    timings = []
    for label, cmd, timeout in steps:
        t = time.perf_counter()
        proc = sh(*cmd, timeout=timeout)
        timings.append([label, proc.returncode, time.perf_counter() - t])
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            print(f"{label} failed (exit {proc.returncode})")
            return 1

    ds = np.load(work / "ds_obs.npz")
    rows = []
    for cam in scene.cameras:
        cpu = np.load(cam.perception_file("cpu"))
        m = ds["camera_id"] == cam.camera_id
        ious, cosines = [], []
        for f in np.unique(ds["frame_id"][m]).tolist():
            d = m & (ds["frame_id"] == f)
            c = cpu["frame_id"] == f
            if not c.any():
                continue
            iou = iou_xywh(ds["bbox"][d], cpu["bbox"][c])
            best = iou.argmax(axis=1)
            ious += iou.max(axis=1).tolist()
            cosines += np.sum(ds["embedding"][d] * cpu["embedding"][c][best], axis=1).tolist()
        rows.append(
            [cam.camera_id, int(m.sum()), len(cpu["score"]), np.median(ious) if ious else float("nan"),
             np.median(cosines) if cosines else float("nan")]
        )  # fmt: skip
    agree = {name: consistency(scene.path, read_rows(work / f"{name}.txt")) for name in ("ds", "cpu")}
    text = "\n".join(
        [
            "# DeepStream against the CPU backend on the demo scene",
            "",
            f"`python bench/deepstream_check.py --frames {args.frames} --precision {args.precision}` on "
            f"{datetime.datetime.now():%Y-%m-%d %H:%M}.",
            "",
            format_table(["step", "exit", "seconds"], timings, digits=1),
            "",
            "DeepStream's tracked observations matched to the CPU detector's boxes of the same frame (the "
            "best IoU each), and the cosine between their embeddings:",
            "",
            format_table(
                ["camera", "DeepStream observations", "CPU detections", "IoU (median)", "embedding cosine (median)"],
                rows,
                digits=3,
            ),
            "",
            "Cross-camera identity agreement (the same person in two cameras with the same global id): "
            + ", ".join(f"{k}: {v.same_id_share:.3f} of {v.pairs} pairs" for k, v in agree.items()),
            "",
        ]
    )
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
