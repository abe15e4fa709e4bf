#!/usr/bin/env python
"""How the default detector's two person classes (Normal, Fall) should combine into one score.

The detector is exported twice from the same weights, with ``person_score: max`` (the better class)
and ``any`` (1 - (1 - p_normal)(1 - p_fall)), and both run on the same frames of a photoreal scene
with ground truth. Per variant: average precision, the best F1 and its threshold, the recall reached
at precision >= 0.85, and the median score of a detected person (IoU >= 0.5, one-to-one).

Usage: python bench/person_score.py [--scene DIR] [--every N] [--out bench/results/person_score.md]
The default scene is bench/photoreal.py's held-out 4-camera scene (run that first).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mcpt.backends.record import match_ids
from mcpt.models.detector import PersonDetector
from mcpt.models.manifest import load_manifest
from mcpt.scene.layout import discover_scene
from mcpt.scene.results import read_rows
from mcpt.table import format_table

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)
MIN_PRECISION = 0.85


def sampled_frames(video: Path, every: int):
    cap = cv2.VideoCapture(str(video))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if n % every == 0:
            yield n, img
        n += 1
    cap.release()


def curve(detector: PersonDetector, scene, every: int, min_height: float) -> dict:
    gt = read_rows(scene.ground_truth)
    tp, fp, n_gt = [], [], 0
    for cam in scene.cameras:
        g_cam = gt.select(gt.camera == cam.camera_id)
        for frame, img in sampled_frames(cam.video, every):
            g = g_cam.select(g_cam.frame == frame)
            tall = g.box[:, 3] >= min_height
            n_gt += int(tall.sum())
            det = detector([img])[0]
            ids = match_ids(g.box, np.arange(len(g)), det[:, :4])
            matched = ids >= 0
            of_tall = np.zeros(len(det), bool)
            of_tall[matched] = tall[ids[matched]]
            tp.append(det[matched & of_tall, 4])
            fp.append(det[~matched & (det[:, 3] >= min_height), 4])
    tp_s, fp_s = np.concatenate(tp), np.concatenate(fp)
    n_tp = np.array([(tp_s >= t).sum() for t in THRESHOLDS], np.float64)
    n_fp = np.array([(fp_s >= t).sum() for t in THRESHOLDS], np.float64)
    recall = n_tp / max(n_gt, 1)
    precision = n_tp / np.maximum(n_tp + n_fp, 1)
    f1 = 2 * recall * precision / np.maximum(recall + precision, 1e-9)
    # average precision: the area under the precision envelope over recall
    order = np.argsort(recall)
    r, p = recall[order], np.maximum.accumulate(precision[order][::-1])[::-1]
    ap = float(np.sum(np.diff(np.concatenate([[0.0], r])) * p))
    precise = precision >= MIN_PRECISION
    best = int(np.argmax(f1))
    return {
        "AP": ap,
        "best F1": float(f1[best]),
        "at score": float(THRESHOLDS[best]),
        f"recall at precision >= {MIN_PRECISION}": float(recall[precise].max()) if precise.any() else 0.0,
        "median score of a person": float(np.median(tp_s)) if len(tp_s) else float("nan"),
        "people": n_gt,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(Path.home() / ".cache/mcpt/bench-photoreal/seed22/scene_001"))
    ap.add_argument("--every", type=int, default=5, help="use every Nth frame of each camera")
    ap.add_argument("--min-height", type=float, default=60.0, help="people shorter than this count neither way")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "person_score.md"))
    args = ap.parse_args()
    scene = discover_scene(args.scene)
    if scene.ground_truth is None:
        print(f"{args.scene}: no ground_truth.txt (run bench/photoreal.py first)", file=sys.stderr)
        return 2
    from mcpt_export.detector import PERSON_SCORES, export_detector
    from mcpt_export.models import source_file

    spec = load_manifest().detector
    src = source_file(spec)
    if src is None:
        print(f"{spec.name}: no weights (run `make models`)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for how in PERSON_SCORES:
            onnx = Path(tmp) / f"person_{how}.onnx"
            export_detector(src, onnx, imgsz=spec.width, classes=spec.person_classes or None, person_score=how)
            det = PersonDetector(
                onnx, spec.width, spec.height, conf=float(THRESHOLDS[0]), box_width_scale=spec.box_width_scale
            )
            r = curve(det, scene, args.every, args.min_height)
            rows.append([how, *r.values()])
            print(f"{how}: AP {r['AP']:.3f}, best F1 {r['best F1']:.3f}", flush=True)
    heads = ["person_score", *r.keys()]
    text = "\n".join(
        [
            "# Person score: how the detector's Normal and Fall classes combine",
            "",
            f"`python bench/person_score.py --every {args.every}` on "
            f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, {os.cpu_count()} cores: "
            f"{spec.name} exported with each `person_score`, every {args.every}th frame of each camera of "
            f"{Path(args.scene).parent.name}/{Path(args.scene).name} (photoreal, held out), people >= "
            f"{args.min_height:.0f} px tall, IoU >= 0.5 one-to-one, box widths corrected by models.yaml.",
            "Nobody falls in these scenes: the comparison says what `any` costs or gains on people walking.",
            "",
            format_table(heads, rows, digits=3),
            "",
        ]
    )
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
