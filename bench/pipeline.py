#!/usr/bin/env python
"""Benchmark of the CPU pipeline (decode -> detect -> ReID -> track -> associate -> outputs).

Per-stage throughput on the demo scene (three virtual cameras cut from vtest.avi) and on a
rendered simulated scene, and the pipeline overhead as wall time / time inside ONNX Runtime.
Also the decoder choice: OpenCV's FFmpeg against a GStreamer pipeline on the same file.

Also throughput against cross-camera consistency for each detector setting (detection interval,
input size, INT8, threads), and the cost of body keypoints (the pose model on the confident boxes).

Usage: python bench/pipeline.py [--frames 150] [--out bench/results/pipeline.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from mcpt.config import load_config
from mcpt.demo import build_demo_scene, consistency
from mcpt.models.manifest import load_manifest
from mcpt.pipeline import run_cpu
from mcpt.scene.cameras import cameras_from_scene
from mcpt.scene.layout import discover_scene
from mcpt.scene.results import read_rows
from mcpt.simulate.params import make_params
from mcpt.simulate.scene import write_scene
from mcpt.table import format_table

STAGES = ("wait frames", "detect", "reid", "track", "associate", "write", "draw")


def run_scene(scene_dir: Path, out: Path, frames: int) -> dict:
    scene = discover_scene(scene_dir)
    res = run_cpu(
        scene.name,
        cameras_from_scene(scene),
        load_config(),
        out / f"{scene_dir.parent.name}.txt",
        video=out / f"{scene_dir.parent.name}.mp4",
        max_steps=frames,
        progress=False,
    )
    t = res.summary.timer
    n = max(res.summary.steps, 1)
    row = {s: 1e3 * t.total(s) / n for s in STAGES}
    # decoding runs in each camera's thread, beside the stages: its ms per step, all cameras together
    row["decode (threads)"] = sum(v["decode_ms"] * v["frames"] for v in res.sources.values()) / n
    row.update(
        steps=n,
        cameras=len(res.sources),
        wall_s=res.summary.wall_s,
        ort_s=res.ort_s,
        overhead=res.wall_per_inference,
        fps=res.summary.steps_per_s(),
        rows=res.summary.rows,
        ids=res.summary.identities,
    )
    return row


# (name, detector ONNX under models/ or None for the default, detector.interval, ONNX Runtime threads, pose)
SETTINGS = (
    ("default (640 input, every frame)", None, 0, None, False),
    ("interval 1 (detect every 2nd frame)", None, 1, None, False),
    ("interval 2 (detect every 3rd frame)", None, 2, None, False),
    ("INT8", "person_yolov8_int8.onnx", 0, None, False),
    ("INT8, interval 1", "person_yolov8_int8.onnx", 1, None, False),
    ("416 input", "person_yolov8_416.onnx", 0, None, False),
    ("416 input, INT8", "person_yolov8_416_int8.onnx", 0, None, False),
    ("416 input, INT8, interval 1", "person_yolov8_416_int8.onnx", 1, None, False),
    ("default, 1 ONNX Runtime thread", None, 0, 1, False),
    ("default, pose", None, 0, None, True),
    ("INT8, interval 1, pose (demo setting)", "person_yolov8_int8.onnx", 1, None, True),
)


def settings(demo: Path, out: Path, frames: int) -> tuple[str, list]:
    """Throughput against cross-camera consistency for the detector settings a user can pick."""
    from mcpt.models.manifest import repo_root

    scene = discover_scene(demo)
    rows, results = [], []
    pose_spec = load_manifest().pose
    pose_onnx = pose_spec.onnx if pose_spec is not None else repo_root() / "models" / "(no pose entry in models.yaml)"
    for name, onnx, interval, threads, pose in SETTINGS:
        detector = repo_root() / "models" / onnx if onnx else None
        missing = [f for f in (detector, pose_onnx if pose else None) if f is not None and not f.is_file()]
        if missing:
            print(f"  {name}: {missing[0]} missing (make models); skipped", flush=True)
            continue
        target = out / f"settings_{len(rows)}.txt"
        res = run_cpu(
            scene.name,
            cameras_from_scene(scene),
            load_config(overrides=[f"detector.interval={interval}", f"pose.enabled={str(pose).lower()}"]),
            target,
            max_steps=frames,
            progress=False,
            detector=detector,
            threads=threads,
        )
        c = consistency(demo, read_rows(target))
        t, n = res.summary.timer, max(res.summary.steps, 1)
        crops = t.items.get("pose", 0)
        results.append((name, res.summary.steps_per_s(), c.same_id_share))
        rows.append(
            [
                name,
                res.summary.steps_per_s(),
                1e3 * t.total("detect") / n,
                1e3 * t.total("reid") / n,
                1e3 * t.total("pose") / n if pose else "",
                1e3 * t.total("pose") / crops if crops else "",
                res.summary.rows,
                c.pairs,
                c.same_id_share,
                c.world_median_m,
            ]
        )
        print(f"  {name}: {rows[-1][1]:.2f} steps/s, same id {c.same_id_share:.3f} ({c.pairs} pairs)", flush=True)
    base = rows[0][1] if rows else float("nan")
    for r in rows:
        r.insert(2, r[1] / base)
    head = [
        "setting",
        "steps/s",
        "x default",
        "detect ms",
        "reid ms",
        "pose ms",
        "ms per crop",
        "rows",
        "pairs",
        "same id",
        "floor gap m",
    ]
    return format_table(head, rows, digits=3), results


def decode_fps_opencv(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    n, t = 0, time.perf_counter()
    while cap.read()[0]:
        n += 1
    return n / (time.perf_counter() - t)


def decode_fps_gstreamer(path: Path, frames: int) -> float | None:
    if shutil.which("gst-launch-1.0") is None:
        return None
    t = time.perf_counter()
    proc = subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "filesrc",
            f"location={path}",
            "!",
            "decodebin",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=BGR",
            "!",
            "fakesink",
            "sync=false",
        ],
        capture_output=True,
    )
    if proc.returncode != 0:
        return None
    return frames / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150, help="time steps per scene (default 150)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pipeline.md"))
    args = ap.parse_args()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="mcpt-bench-") as tmp:
        tmp = Path(tmp)
        demo = build_demo_scene(tmp / "demo", frames=args.frames)
        sim = write_scene(
            tmp / "simulated",
            make_params("medium", cameras=3, frames=args.frames, seed=1, people_population=8, image_size=(768, 432)),
            render=True,
            progress=False,
        )
        rows = {}
        for name, scene in (("demo (vtest.avi, 3 virtual cameras)", demo), ("simulated, rendered (3 cameras)", sim)):
            print(f"running {name} ...", flush=True)
            rows[name] = run_scene(scene, tmp, args.frames)
        c = consistency(demo, read_rows(tmp / "demo.txt"))
        print("settings ...", flush=True)
        settings_table, _ = settings(demo, tmp, args.frames)
        video = demo / "camera_0002" / "video.mp4"
        n_frames = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
        cv_fps = decode_fps_opencv(video)
        gst_fps = decode_fps_gstreamer(video, n_frames)
    names = list(rows)
    stage_rows = [[s, *(rows[n][s] for n in names)] for s in (*STAGES, "decode (threads)")]
    table = format_table(["ms per time step", *names], stage_rows, digits=1)
    summary_rows = [
        [k, *(rows[n][k] for n in names)]
        for k in ("steps", "cameras", "fps", "wall_s", "ort_s", "overhead", "rows", "ids")
    ]
    summary = format_table(["", *names], summary_rows, digits=2)
    decode = format_table(
        ["decoder", "frames/s (600x450 mp4v)"],
        [
            ["OpenCV VideoCapture (FFmpeg)", cv_fps],
            ["GStreamer decodebin -> BGR (gst-launch)", gst_fps if gst_fps else "n/a"],
        ],
        digits=0,
    )
    text = "\n".join(
        [
            "# CPU pipeline benchmark",
            "",
            f"`python bench/pipeline.py --frames {args.frames}` on {started}, {platform.machine()}, {os.cpu_count()} "
            f"cores, Python {platform.python_version()}; default models (YOLOv8 person detector 640x640, "
            "MobileNetV2 ReID 256x128) on ONNX Runtime (CPU).",
            "",
            "## Per-stage time",
            "",
            "Decoding runs in one thread per camera beside the main loop; `wait frames` is the main loop waiting for "
            "them. `detect` and `reid` include pre/post-processing around ONNX Runtime.",
            "",
            table,
            "",
            "## Totals",
            "",
            "`overhead` = total wall time / time inside ONNX Runtime (target <= 1.25).",
            "",
            summary,
            "",
            f"The simulated scene's cartoon people are hardly detected by the real person detector "
            f"({rows[names[1]]['rows']} rows): that column measures throughput on rendered video only; association "
            "accuracy on simulated scenes is bench/association.py's job (cached perception).",
            "",
            f"Demo cross-camera consistency: {c.pairs} pairs of detections of one person in two cameras, same global "
            f"id in {100 * c.same_id_share:.1f}%, floor positions {c.world_median_m:.2f} m apart (median).",
            "",
            "## Settings: throughput against cross-camera consistency",
            "",
            "The demo scene again, one run per setting (no pictures drawn): steps/s, `x default` its ratio to the "
            "first row, `same id` the share of pairs of detections of one person in two cameras that carry the same "
            "global id (the demo's own ground truth: the virtual cameras overlap on the same source pixels), `floor "
            "gap` their floor positions' median distance. `interval N`: detect every (N+1)-th frame, the "
            "single-camera trackers carry the tracks in between (`--set detector.interval=N`; DeepStream: nvinfer "
            "`interval`). `416 input`: the same detector exported at 416x416; `INT8`: its static INT8 "
            "quantisation (`make models` builds both). `pose`: body keypoints (YOLO11n-pose, 256x192, one crop per "
            "confident box, all cameras in one batch; `--pose`) on detection steps: `pose ms` per step, `ms per "
            "crop` the pose stage's time over the crops it ran.",
            "",
            settings_table,
            "",
            "## Decoder",
            "",
            decode,
            "",
            "OpenCV's FFmpeg reader is used: it decodes as fast or faster here, needs nothing beyond the "
            "opencv-python-headless wheel (a GStreamer appsink needs PyGObject in the environment), and reads RTSP "
            "over TCP with open/read timeouts.",
            "",
        ]
    )
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
