#!/usr/bin/env python
"""Benchmark of the association core on simulated scenes (replay backend).

1. accuracy: the three difficulty presets (several seeds), for the full method, each ablation,
   the reference method's settings and the simple baseline: HOTA, DetA, AssA, LocA (official
   AIC24 protocol; the mean protocol's HOTA beside it), ids, and ms per time step;
2. rates: the same scenes at 30 fps and at 10 fps (every third frame): durations are in seconds,
   so the method should score alike at both;
3. speed: a sweep of cameras x people: ms per time step against observations per step;
4. memory: a long stream straight from the simulator (nothing on disk): peak RSS over time;
5. site: the real-site preset (rooms joined by unseen corridors, partial views, calibration error,
   mannequins, desks, uniforms, returns, 30 fps) at 10 and 16 cameras, two seeds: the full method,
   each real-site mechanism off, the reference's settings, the baseline, the oracle ceilings
   (true identities with each camera's own calibrated point, or with the cameras' mean), and the
   full method and the reference at 10 fps (every third frame);
6. pose: body keypoints (the simulator's, as a top-down pose model reports them) on the shelves
   preset (shelves hide the legs of about a third of the people seen) and on medium and hard:
   the box bottom against the pose foot point, with and without mcpt's standing-point
   correction, and each of the reference's other uses of pose (quality gates, bank admission,
   crowding) on top.

Usage: python bench/association.py [--quick] [--out bench/results/association.md]
Timings are single-process, single-threaded (OMP/BLAS threads pinned to 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import contextlib
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mcpt.association.baseline import WorldDistanceBaseline
from mcpt.association.core import Associator
from mcpt.backends.replay import ReplaySource
from mcpt.config import load_config
from mcpt.evaluation.oracle import ORACLES, oracle_rows
from mcpt.evaluation.run import run_eval
from mcpt.loop import run_association
from mcpt.observation import concat_batches
from mcpt.scene.calibration import calibration_from_matrices
from mcpt.scene.layout import discover_scene
from mcpt.scene.results import write_rows
from mcpt.simulate.params import make_params
from mcpt.simulate.scene import SimulatedScene, decimate_scene, write_scene
from mcpt.table import format_table
from mcpt.tracking.stage import CameraTracking

VARIANTS = {
    "full": [],
    "no-refine": ["association.refine.enabled=false"],
    "no-appearance": ["association.use_appearance=false"],
    "no-world": ["association.use_world=false"],
    "reference": "reference",
    "baseline": None,
}


def run_variant(scene_dir: Path, overrides: list[str] | str | None, work: Path) -> dict:
    """One variant on one scene: ``overrides`` is a list of --set values, a config name, or None (baseline)."""
    cfg = load_config(overrides) if isinstance(overrides, str) else load_config(overrides=overrides or [])
    scene = discover_scene(scene_dir)
    source = ReplaySource(scene, cfg)
    assoc = (
        WorldDistanceBaseline(fps=source.fps) if overrides is None else Associator(source.cfg.association, source.fps)
    )
    out = work / f"{scene_dir.parent.name}_{scene_dir.name}.txt"
    summary = run_association(
        source, assoc, out, scene.name, total=source.num_steps, progress=False, source_stage="track"
    )
    s, _ = run_eval(scene.ground_truth, out)
    mean, _ = run_eval(scene.ground_truth, out, protocol="mean")
    return {
        **{k: s[k] for k in ("HOTA", "DetA", "AssA", "LocA")},
        "HOTA_mean": mean["HOTA"],
        "ids": s["pred_ids"],
        "gt_ids": s["gt_ids"],
        "ms_p50": summary.timer.ms("associate", 50),
        "ms_p95": summary.timer.ms("associate", 95),
        "sct_ms": summary.timer.ms("track", 50),
        "obs": summary.observations / max(summary.steps, 1),
    }


def accuracy(work: Path, seeds: list[int], frames: int, cameras: int, people: int) -> tuple[str, dict]:
    rows, means = [], {}
    for difficulty in ("easy", "medium", "hard"):
        scenes = []
        for seed in seeds:
            params = make_params(difficulty, cameras=cameras, frames=frames, seed=seed, people_population=people)
            scenes.append(write_scene(work / f"{difficulty}_{seed}", params, progress=False))
        for name, overrides in VARIANTS.items():
            res = [run_variant(d, overrides, work) for d in scenes]
            m = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
            means[(difficulty, name)] = m
            rows.append(
                [
                    difficulty,
                    name,
                    m["HOTA"],
                    m["DetA"],
                    m["AssA"],
                    m["LocA"],
                    m["HOTA_mean"],
                    f"{m['ids']:.0f}/{m['gt_ids']:.0f}",
                    m["ms_p50"],
                    m["ms_p95"],
                ]
            )
            print(f"  {difficulty:6s} {name:13s} HOTA {m['HOTA']:.3f}", flush=True)
    table = format_table(
        [
            "preset",
            "variant",
            "HOTA",
            "DetA",
            "AssA",
            "LocA",
            "HOTA (mean, 1 m)",
            "ids (pred/gt)",
            "assoc ms p50",
            "assoc ms p95",
        ],
        rows,
    )
    return table, means


POSITION_VARIANTS = {
    "fused (default)": [],
    "own camera's point": ["association.position.fuse=false"],
    "own box bottom-centre (reference)": [
        "association.position.fuse=false",
        "association.position.foot_offset_m=0",
        "association.position.vertical_axis=false",
    ],
}


def positions(work: Path, seeds: list[int], frames: int) -> str:
    """What fusing each person's cameras into one filtered position does to LocA and DetA (medium preset)."""
    rows = []
    scenes = [work / f"medium_{s}" / "scene_001" for s in seeds]
    for name, overrides in POSITION_VARIANTS.items():
        res = [run_variant(d, overrides, work) for d in scenes]
        m = {k: float(np.mean([r[k] for r in res])) for k in ("HOTA", "DetA", "AssA", "LocA", "HOTA_mean")}
        rows.append([name, m["HOTA"], m["DetA"], m["AssA"], m["LocA"], m["HOTA_mean"]])
        print(f"  positions {name:35s} LocA {m['LocA']:.3f}", flush=True)
    return format_table(["row position", "HOTA", "DetA", "AssA", "LocA", "HOTA (mean, 1 m)"], rows)


def rates(work: Path, seeds: list[int], seconds: float) -> str:
    """The same scenes at 30 fps and at 10 fps (every third frame), default and reference settings."""
    rows = []
    for seed in seeds:
        params = make_params("medium", cameras=4, frames=int(30 * seconds), fps=30.0, seed=seed, people_population=12)
        s30 = write_scene(work / f"rate30_{seed}", params, progress=False)
        s10 = decimate_scene(s30, work / f"rate10_{seed}", 3)
        for name, overrides in (("full", []), ("reference", "reference")):
            r30, r10 = run_variant(s30, overrides, work), run_variant(s10, overrides, work)
            rows.append([seed, name, r30["HOTA"], r10["HOTA"], r10["HOTA"] - r30["HOTA"], r30["LocA"], r10["LocA"]])
            print(f"  rates seed {seed} {name:9s} HOTA 30 fps {r30['HOTA']:.3f}, 10 fps {r10['HOTA']:.3f}", flush=True)
    return format_table(
        ["seed", "variant", "HOTA 30 fps", "HOTA 10 fps", "10 - 30", "LocA 30 fps", "LocA 10 fps"], rows, digits=3
    )


def sweep(work: Path, sizes: list[tuple[int, int]], frames: int) -> str:
    """``sizes``: (cameras, people) pairs."""
    rows = []
    points = []
    for c, p in sizes:
        d = write_scene(
            work / f"sweep_{c}_{p}",
            make_params("medium", cameras=c, frames=frames, seed=1, people_population=p),
            progress=False,
        )
        r = run_variant(d, [], work)
        points.append((r["obs"], r["ms_p50"]))
        rows.append(
            [
                c,
                p,
                r["obs"],
                r["ms_p50"],
                r["ms_p95"],
                1000 * r["ms_p50"] / max(r["obs"], 1),
                r["sct_ms"],
                r["HOTA"],
            ]
        )
        print(f"  sweep {c:2d} cameras x {p:2d} people: {r['obs']:.0f} obs/step, {r['ms_p50']:.2f} ms", flush=True)
    rows.sort(key=lambda r: r[2])
    obs, ms = np.array(points).T
    slope = float(np.polyfit(np.log(obs), np.log(ms), 1)[0])
    table = format_table(
        ["cameras", "people", "obs/step", "assoc ms p50", "assoc ms p95", "us/obs", "sct ms (all cams)", "HOTA"],
        rows,
        digits=2,
    )
    return table + f"\n\nlog-log slope of association ms against observations per step: {slope:.2f} (1.0 = linear)"


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process."""
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def memory(minutes: float, cameras: int, people: int, fps: float = 10.0) -> str:
    frames = int(minutes * 60 * fps)
    params = make_params(
        "medium", cameras=cameras, frames=frames, fps=fps, seed=3, people_population=people, people_mean_dwell_s=60.0
    )
    sim = SimulatedScene.build(params)
    cfg = load_config()
    stages = [
        CameraTracking(
            c.camera_id,
            calibration_from_matrices(c.camera_id, c.homography, c.projection, image_size=c.image_size),
            cfg.association,
            c.image_size,
        )
        for c in sim.calibrated
    ]
    assoc = Associator(cfg.association, fps)
    reset_peak_rss()  # the peak of building the simulation is not the tracker's
    rows = []
    step_ms = []
    after_first = None
    t_start = time.perf_counter()
    for t, cam_frames in enumerate(sim.frames()):
        parts = [
            st("mem", t, t, t / fps, f.det_box, f.det_score, f.det_embedding)[0]
            for st, f in zip(stages, cam_frames, strict=True)
        ]
        b = concat_batches(parts, scene="mem", step=t, time_s=t / fps, dim=params.perception.embedding_dim)
        t0 = time.perf_counter()
        assoc.update(b)
        step_ms.append(1000 * (time.perf_counter() - t0))
        minute = (t + 1) / (60 * fps)
        if minute == int(minute):
            cur, peak = rss_mib()
            s = assoc.store
            if after_first is None:
                after_first = peak
            rows.append(
                [
                    int(minute),
                    cur,
                    peak,
                    peak / after_first,
                    int(np.sum(s.state == 2)),
                    int(np.sum(s.state == 3)),
                    len(assoc.bindings),
                    assoc.next_out_id - 1,
                    float(np.median(step_ms[-int(60 * fps) :])),
                ]
            )
    wall = time.perf_counter() - t_start
    table = format_table(
        [
            "minute",
            "RSS MiB",
            "peak RSS MiB",
            "peak / after 1 min",
            "tracked",
            "lost",
            "bindings",
            "ids so far",
            "assoc ms p50",
        ],
        rows,
        digits=2,
    )
    return table + (
        f"\n\n{frames} frames ({minutes:g} min at {fps:g} fps), {cameras} cameras, ~{people} people "
        f"present; simulated + tracked in {wall:.0f} s"
    )


SITE_VARIANTS = {
    "full": [],
    "no-self-calibration": ["association.position.self_calibrate=false"],
    "no-still-objects": ["association.tracker.static_after_s=0"],
    "no-refine": ["association.refine.enabled=false"],
    "no-appearance": ["association.use_appearance=false"],
    "reference": "reference",
    "baseline": None,
}
SITE_SIZES = {  # name: (cameras, people, rooms)
    "10 cameras": (10, 20, 3),
    "16 cameras": (16, 40, 4),
}


def oracle(scene_dir: Path, kind: str, work: Path) -> dict:
    out = work / f"oracle_{kind}.txt"
    write_rows(out, oracle_rows(discover_scene(scene_dir), kind))
    s, _ = run_eval(scene_dir / "ground_truth.txt", out)
    return {k: s[k] for k in ("HOTA", "DetA", "AssA", "LocA")} | {"ids": s["pred_ids"], "gt_ids": s["gt_ids"]}


def site(work: Path, seeds: list[int], seconds: float) -> str:
    """The real-site preset: variants, ceilings and the 10 fps versions, mean over seeds per size."""
    rows = []
    for size, (cams, people, rooms) in SITE_SIZES.items():
        scenes = []
        for seed in seeds:
            params = make_params(
                "site", cameras=cams, frames=int(30 * seconds), seed=seed, people_population=people, site_rooms=rooms
            )
            scenes.append(write_scene(work / f"site{cams}_{seed}", params, progress=False))
        runs = {name: (lambda d, o=o: run_variant(d, o, work)) for name, o in SITE_VARIANTS.items()}
        runs |= {f"oracle: true ids, {k} position": (lambda d, k=k: oracle(d, k, work)) for k in ORACLES}
        tenth = [decimate_scene(d, work / f"site{cams}_{d.parent.name}_10fps", 3) for d in scenes]
        for name, fn in runs.items():
            res = [fn(d) for d in scenes]
            rows.append(_site_row(size, "30", name, res))
            print(f"  site {size} {name:36s} HOTA {rows[-1][3]:.3f}", flush=True)
        for name in ("full", "reference"):
            res = [run_variant(d, SITE_VARIANTS[name], work) for d in tenth]
            rows.append(_site_row(size, "10", name, res))
            print(f"  site {size} 10 fps {name:29s} HOTA {rows[-1][3]:.3f}", flush=True)
    return format_table(
        ["site", "fps", "variant", "HOTA", "DetA", "AssA", "LocA", "ids (pred/gt)", "assoc ms p50", "assoc ms p95"],
        rows,
    )


def _site_row(size: str, fps: str, name: str, res: list[dict]) -> list:
    m = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
    return [
        size,
        fps,
        name,
        m["HOTA"],
        m["DetA"],
        m["AssA"],
        m["LocA"],
        f"{m['ids']:.0f}/{m['gt_ids']:.0f}",
        m.get("ms_p50", float("nan")),
        m.get("ms_p95", float("nan")),
    ]


POSE_OFF = [f"association.pose.{use}=false" for use in ("foot", "gate", "bank", "crowd")]
NO_STANDING = ["association.position.foot_offset_m=0", "association.position.vertical_axis=false"]


def _only_pose(*uses: str) -> list[str]:
    """Settings that turn on exactly these uses of pose (whatever the defaults are)."""
    return [f"association.pose.{u}={'true' if u in uses else 'false'}" for u in ("foot", "gate", "bank", "crowd")]


POSE_VARIANTS = {
    "box bottom, standing correction (no pose)": POSE_OFF,
    "box bottom-centre (no pose, no correction)": POSE_OFF + NO_STANDING,
    "pose foot, standing correction": _only_pose("foot"),
    "pose foot, no correction": _only_pose("foot") + NO_STANDING,
    "pose foot + quality gates": _only_pose("foot", "gate"),
    "pose foot + bank admission": _only_pose("foot", "bank"),
    "pose foot + crowding": _only_pose("foot", "crowd"),
    "pose foot + gates + crowding": _only_pose("foot", "gate", "crowd"),
    "pose foot + all three (the reference's uses)": _only_pose("foot", "gate", "bank", "crowd"),
    "defaults": [],
}


def pose(work: Path, seeds: list[int], frames: int) -> str:
    """Box bottom vs pose foot point, and the reference's other uses of pose, per preset (mean over seeds)."""
    rows = []
    for preset in ("shelves", "medium", "hard"):
        scenes = []
        for seed in seeds:
            params = make_params(preset, cameras=4, frames=frames, seed=seed, people_population=12)
            scenes.append(write_scene(work / f"pose_{preset}_{seed}", params, progress=False))
        for name, overrides in POSE_VARIANTS.items():
            res = [run_variant(d, overrides, work) for d in scenes]
            m = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
            rows.append([preset, name, m["HOTA"], m["DetA"], m["AssA"], m["LocA"], f"{m['ids']:.0f}/{m['gt_ids']:.0f}"])
            print(f"  pose {preset:8s} {name:46s} HOTA {m['HOTA']:.3f} LocA {m['LocA']:.3f}", flush=True)
    return format_table(["preset", "variant", "HOTA", "DetA", "AssA", "LocA", "ids (pred/gt)"], rows)


def split_sections(text: str) -> dict[str, str]:
    """The file's sections by key (each starts with a ``<!-- key: ... -->`` line)."""
    out: dict[str, str] = {}
    key = None
    for line in text.splitlines(keepends=True):
        if line.startswith("<!-- ") and ":" in line:
            key = line[5 : line.index(":")]
            out[key] = ""
        if key is not None:
            out[key] += line
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, numbers meaningless)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "association.md"))
    ap.add_argument(
        "--only", choices=("accuracy", "rates", "sweep", "memory", "site", "pose"), help="run one part (written alone)"
    )
    args = ap.parse_args()
    if args.quick:
        seeds, frames, cams, people = [1], 120, [2, 4], [5]
        sweep_frames, mem_minutes, acc_cams, acc_people, rate_s, site_s = 60, 0.2, 2, 4, 10.0, 5.0
    else:
        seeds, frames, cams, people = [1, 2], 1800, [2, 4, 8, 16], [5, 20, 40, 50]
        sweep_frames, mem_minutes, acc_cams, acc_people, rate_s, site_s = 300, 30.0, 8, 20, 120.0, 60.0
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    acc = pos = rt = sw = mem = st = ps = "(not run: --only)"
    with tempfile.TemporaryDirectory(prefix="mcpt-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "accuracy"):
            print("accuracy ...", flush=True)
            acc, _ = accuracy(work, seeds, frames, 4, 12)
            pos = positions(work, seeds, frames)
        if args.only in (None, "rates"):
            print("rates ...", flush=True)
            rt = rates(work, seeds, rate_s)
        if args.only in (None, "sweep"):
            print("speed sweep ...", flush=True)
            # the largest size is the target: 16 cameras x 80 people under 10 ms a step
            sizes = [(c, p) for c in cams for p in people] + ([] if args.quick else [(16, 80)])
            sw = sweep(work, sizes, sweep_frames)
        if args.only in (None, "memory"):
            print("memory ...", flush=True)
            mem = memory(mem_minutes, acc_cams, acc_people)
        if args.only in (None, "site"):
            print("site ...", flush=True)
            st = site(work, seeds, site_s)
        if args.only in (None, "pose"):
            print("pose ...", flush=True)
            ps = pose(work, seeds, 120 if args.quick else 600)
    header = (
        f"`python bench/association.py{' --quick' if args.quick else ''}` on {started}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, one thread."
    )
    sections = {
        "accuracy": "\n".join(
            [
                f"## Accuracy: simulated scenes, 4 cameras, ~12 people, {frames} frames at 10 fps, "
                f"seeds {seeds} (mean)",
                "",
                "HOTA/DetA/AssA/LocA on floor positions, official AIC24 protocol (`mcpt eval`: first row per "
                "(frame, id), similarity 1 - d / 2 m); `HOTA (mean, 1 m)` = `mcpt eval --protocol mean` (an "
                "identity's mean position over its cameras, tau 1 m), the protocol of this project's earlier "
                "numbers. `reference` = `--config reference` (the published method's settings). `baseline` = "
                "world-distance clustering + Hungarian frame-to-frame tracking, no appearance. ms = association "
                "core per time step (single-camera trackers not included; see the sweep).",
                "",
                acc,
                "",
                "## Positions: the fused position against each camera's own (medium preset, same seeds)",
                "",
                pos,
            ]
        ),
        "rates": "\n".join(
            [
                f"## Rates: the same scenes at 30 and 10 fps (medium, 4 cameras, ~12 people, {rate_s:g} s, seeds "
                f"{seeds})",
                "",
                "Each 30 fps scene is simulated once; its 10 fps version keeps every third frame (perception and "
                "ground truth), i.e. the same people seen by slower cameras. Durations are in seconds, so the "
                "method's behaviour should not depend on the rate. HOTA: official protocol.",
                "",
                rt,
            ]
        ),
        "sweep": "\n".join([f"## Speed: cameras x people, medium preset, {sweep_frames} frames", "", sw]),
        "memory": "\n".join(
            [
                f"## Memory: a {mem_minutes:g}-minute stream, {acc_cams} cameras",
                "",
                "Peak RSS is reset after the simulation is built, so it is the tracker's (plus the simulator's "
                "per-frame work).",
                "",
                mem,
            ]
        ),
        "site": "\n".join(
            [
                f"## Real site: `mcpt simulate --difficulty site`, {site_s:g} s at 30 fps, seeds {seeds} (mean)",
                "",
                "Rooms in a row joined by 6 m corridors no camera sees (10 cameras: 3 rooms, ~20 people; 16 "
                "cameras: 4 rooms, ~40 people); cameras aimed at parts of their room (45-70 degree views); "
                "calibrations written from a pose 0.5 degrees / 2% focal / 0.1 m off the true one; a mannequin "
                "per room (on average) that every camera of the room detects; two desks per room hiding the legs "
                "of whoever stands at them; 20% of people in one of two uniforms; 30% groups; 40% return after "
                "20-90 s. Official AIC24 protocol. `oracle` rows: every true detection with its person's true id, "
                "placed by its own camera's calibration or by the mean of its cameras' points (what a perfect "
                "tracker reading the calibrations could score). The 10 fps rows keep every third frame.",
                "",
                st,
            ]
        ),
        "pose": "\n".join(
            [
                f"## Pose: foot points and the reference's uses of keypoints, 4 cameras, ~12 people, "
                f"{120 if args.quick else 600} frames at 10 fps, seeds {seeds} (mean)",
                "",
                "Simulated keypoints: COCO-17 points of walking 3D skeletons, seen (confidence ~0.88, noise 1.5% of "
                "the person's height) unless outside the image, below a shelf's or desk's sight line, behind a "
                "nearer person or (the face) turned away. `shelves`: medium plus eight 2.4 x 0.6 m shelves, 1.1 m "
                "high: the feet of about a third of the people seen are hidden (by shelves, the image border or "
                "people in front; a shelf ends the box at its sight line). "
                "`standing correction` = mcpt's vertical-axis foot pixel and 0.1 m offset behind the toes; `no "
                "correction` = the box's bottom-centre as the reference. Official AIC24 protocol.",
                "",
                ps,
            ]
        ),
    }
    out = Path(args.out)
    previous = split_sections(out.read_text()) if args.only and out.is_file() else {}
    parts = ["# Association benchmark", ""]
    for key, body in sections.items():
        if args.only and key != args.only and key in previous:
            parts += [previous[key].rstrip(), ""]  # keep the last full run's section
        else:
            parts += [f"<!-- {key}: {header} -->", body, ""]
    text = "\n".join(parts)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
