#!/usr/bin/env python
"""The association service over Redis Streams: how much it sustains, and how late its tracks come out.

Scene: `mcpt simulate` (no pixels), 16 cameras, 50 people on site, 10 fps, 1280-d embeddings (the
size of the default ReID model's, so messages weigh what they will). Four perception nodes (`mcpt
track --publish --camera ...`, 4 cameras each: single-camera tracking and publishing, as a node does
after its detector), one `mcpt associate --publish`, one local redis-server (append-only file fsynced
every second), all on this machine.

1. capacity: the nodes publish the whole scene at once, then the service reads it as fast as it
   can: observations/s, steps/s and megabytes/s through it;
2. real time: the nodes publish each frame when its time comes (`--realtime`) while the service
   runs: latency from a frame's timestamp to the broker's receipt of that frame's tracks (the tracks
   entry's stream id is the broker's clock), p50/p99/max, and late frames.

Usage: python bench/bus.py [--cameras 16] [--people 50] [--seconds 60] [--dim 1280] [--out bench/results/bus.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mcpt.bus.messages import decode
from mcpt.table import format_table

MCPT = [sys.executable, "-m", "mcpt", "-q"]
FPS = 10.0
NODES = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(work: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (work / "redis").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(work / "redis"), "--appendonly",
         "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def make_scene(work: Path, cameras: int, people: int, seconds: float, dim: int) -> Path:
    from mcpt.simulate.params import make_params
    from mcpt.simulate.scene import write_scene

    params = make_params(
        "medium", cameras=cameras, frames=round(seconds * FPS), seed=11, people_population=people, fps=FPS,
        perception_embedding_dim=dim,
    )  # fmt: skip
    return write_scene(work / "site", params, progress=False, difficulty="medium")


def run_nodes(scene: Path, url: str, cameras: int, realtime: bool) -> list[subprocess.Popen]:
    per = cameras // NODES
    # stream time 0 a few seconds ahead: every process is up and waiting when the first frame is due
    extra = ["--realtime", "--origin", f"{time.time() + 5:.3f}"] if realtime else []
    procs = []
    for n in range(NODES):
        cams = [a for c in range(n * per + 1, (n + 1) * per + 1) for a in ("--camera", str(c))]
        procs.append(subprocess.Popen([*MCPT, "track", str(scene), "--publish", url, *cams, *extra],
                                      stdout=subprocess.PIPE, text=True))  # fmt: skip
    return procs


def associate(scene: Path, url: str, tracks: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*MCPT, "associate", "--from", url, "--scene", str(scene), "--out", str(out), "--publish", tracks,
         "--snapshot-every", "5"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_all(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{p.args[3:5]} exited {p.returncode}: {out}")
        outs.append(out.strip())
    return outs


def stream_bytes(client, prefix: str, cameras: int) -> int:
    return sum(client.memory_usage(f"{prefix}:camera:{c}") or 0 for c in range(1, cameras + 1))


def latencies(client, tracks: str) -> np.ndarray:
    """Broker receipt of each tracks message minus its frame's timestamp, seconds."""
    out, last = [], "-"
    while True:
        got = client.xrange(tracks, min=last, count=2000)
        got = [g for g in got if g[0] != last] if last != "-" else got
        if not got:
            return np.array(out)
        for msg_id, fields in got:
            received = int(msg_id.split(b"-")[0]) / 1e3
            out.append(received - decode(fields[b"pb"]).timestamp.ToNanoseconds() / 1e9)
        last = got[-1][0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bus.md"))
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server not installed (Debian package redis-server)")
    import redis

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    work = Path(tempfile.mkdtemp(prefix="mcpt-bus-"))
    scene = make_scene(work, args.cameras, args.people, args.seconds, args.dim)
    server, port = start_redis(work)
    client = redis.Redis(port=port)
    rows, notes = [], []
    try:
        for mode in ("capacity", "real time"):
            prefix, tracks = f"cap{len(rows)}", f"tracks{len(rows)}"
            url = f"redis://127.0.0.1:{port}/{prefix}"
            out = work / f"r{len(rows)}.txt"
            realtime = mode == "real time"
            t0 = time.perf_counter()
            nodes = run_nodes(scene, url, args.cameras, realtime)
            if not realtime:
                node_reports = wait_all(nodes)
                published = time.perf_counter() - t0
                t0 = time.perf_counter()
            service = associate(scene, url, f"redis://127.0.0.1:{port}/{tracks}", out)
            if realtime:
                node_reports = wait_all(nodes)
            (report,) = wait_all([service])
            wall = time.perf_counter() - t0
            steps = int(report.split(" steps")[0])
            busy = float(report.split("; ")[1].split(" s (")[0])
            obs = int(report.split(", ")[1].split()[0])
            late = int(report.split("late frames ")[1].split(",")[0])
            mb = sum(float(r.split("(")[1].split(" MB")[0]) for r in node_reports)
            lat = latencies(client, tracks)
            p50, p99, top = np.percentile(lat, [50, 99, 100]).tolist() if len(lat) else [np.nan] * 3
            if realtime:
                rate = obs / args.seconds
                rows.append([mode, steps, obs, f"{rate:.0f}", f"{steps / args.seconds:.1f}", f"{mb / args.seconds:.1f}",
                             f"{p50 * 1e3:.0f}", f"{p99 * 1e3:.0f}", f"{top * 1e3:.0f}", late])  # fmt: skip
            else:
                rows.append([mode, steps, obs, f"{obs / busy:.0f}", f"{steps / busy:.1f}", f"{mb / busy:.1f}",
                             "", "", "", late])  # fmt: skip
                notes.append(f"capacity: the nodes published {mb:.0f} MB in {published:.1f} s; the service read and "
                             f"associated it in {busy:.1f} s ({wall:.1f} s with its start)")  # fmt: skip
            notes.append(f"{mode}: Redis holds {stream_bytes(client, prefix, args.cameras) / 1e6:.0f} MB for the "
                         f"camera streams (cap {6000} entries each)")  # fmt: skip
            print(rows[-1], flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    head = ["run", "steps", "observations", "obs/s", "steps/s", "MB/s in", "latency p50 ms", "p99 ms", "max ms",
            "late frames"]  # fmt: skip
    text = [
        "# Perception nodes and the association service over Redis Streams",
        "",
        f"`python bench/bus.py --cameras {args.cameras} --people {args.people} --seconds {args.seconds:g} --dim "
        f"{args.dim}` on {started}, {platform.machine()}, 2 cores, everything on this machine: one redis-server "
        f"(append-only file, fsync every second), {NODES} perception nodes (`mcpt track --publish`, "
        f"{args.cameras // NODES} cameras each: single-camera tracking and publishing; detection is not part of "
        "this bench), one `mcpt associate --publish` (snapshot every 5 s). Simulated site: "
        f"{args.cameras} cameras, {args.people} people, {FPS:g} fps, {args.dim}-d embeddings"
        + (" (the default ReID model's size)." if args.dim == 1280 else "."),
        "",
        "capacity: the whole scene published first, then read by the service as fast as it goes. real time: "
        "frames published when their time comes (`--realtime`), the service running meanwhile; latency = the "
        "broker's receipt of a frame's tracks (their stream id) minus the frame's timestamp, so it includes "
        "the wait for the step's last camera and the service's batching of reads.",
        "",
        format_table(head, rows),
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    Path(args.out).write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
