"""``mcpt associate``: the association service. Camera streams in, results and tracks out, across restarts.

Each turn of the loop:

1. read what the perception nodes published, every camera's stream through one consumer group;
2. push each camera's frames into the step assembler, the same alignment as the CPU lockstep
   reader (the nearest frame to each step's time; for live input a bounded wait for late cameras,
   late frames counted);
3. associate every step that can be formed, append its rows to the results file (flushed) and
   publish its tracks;
4. acknowledge the messages whose frames went into steps (not those still waiting in the assembler);
5. every ``snapshot_every_s`` (and on a clean stop) write a snapshot: the association core's state,
   the assembler's waiting frames, the last message read from each stream, the results file's
   length and the last step whose tracks went out.

A restarted service loads the snapshot, cuts the results file back to the snapshot's length, has
the group deliver again everything after the snapshot's last messages, and goes on: the core is
deterministic, so the steps after the snapshot come out as they would have; no row is lost or
doubled and global ids continue. Tracks already published past the snapshot are not sent twice
(the service reads the tracks stream's last step on start).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mcpt.association.core import Associator
from mcpt.bus.messages import camera_part, decode, encode, tracks_message
from mcpt.bus.redis_bus import BusURL, GroupReader, Publisher, payload
from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.loop import AssociationLoop, RunSummary
from mcpt.observation import concat_batches
from mcpt.scene.results import ResultsWriter
from mcpt.sources.assembler import StepAssembler

log = logging.getLogger(__name__)
LIVE_MAX_WAIT_S = 1.0  # live input: a step waits at most this long for a late camera


@dataclass
class ServiceOptions:
    cameras: list[int]
    fps: float | None = None  # processing rate (default: the slowest camera's, as its node registered it)
    group: str = "mcpt-associate"
    consumer: str = "associate-1"
    snapshot: Path | None = None  # default: OUT.snapshot
    snapshot_every_s: float = 5.0
    live: bool = False  # wait at most LIVE_MAX_WAIT_S for a late camera (files: wait for every camera)
    publish: BusURL | None = None  # the tracks stream
    wait_cameras_s: float = 120.0  # how long to wait for every camera's node to register


@dataclass
class ServiceState:
    """What a snapshot holds: everything the results after it depend on."""

    scene: str
    fps: float
    dim: int
    origin: float
    node_origins: dict[int, float]
    associator: Associator
    assembler: StepAssembler
    last_read: dict[str, bytes] = field(default_factory=dict)
    results: tuple[int, int] = (0, 0)  # (bytes, rows) of the results file
    steps: int = 0
    observations: int = 0
    published_step: int = -1


def _write_snapshot(path: Path, state: ServiceState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class AssociationService:
    def __init__(self, url: BusURL, cfg: Config, out: Path, opts: ServiceOptions) -> None:
        self.url = url
        self.cfg = cfg
        self.out = out
        self.opts = opts
        self.snapshot_path = opts.snapshot or out.with_name(out.name + ".snapshot")
        self.streams = {url.camera_stream(c): c for c in opts.cameras}
        self.reader = GroupReader(url, list(self.streams), opts.group, opts.consumer)
        self.resumed_at: int | None = None
        self.snapshots = 0

    def _registered(self) -> dict[int, dict]:
        """Every camera's registration (its node writes it before its first message), waited for."""
        deadline = time.monotonic() + self.opts.wait_cameras_s
        while True:
            reg = {c: json.loads(v) for c, v in self.reader.registry().items() if c in self.opts.cameras}
            missing = sorted(set(self.opts.cameras) - set(reg))
            if not missing:
                return reg
            if time.monotonic() > deadline:
                raise InputError(None, f"cameras {missing} never registered at {self.url.registry}", field="--camera")
            log.info("waiting for the nodes of cameras %s", missing)
            time.sleep(0.5)

    def _fresh(self) -> ServiceState:
        from mcpt.backends.replay import models_fitted

        reg = self._registered()
        scenes = sorted({r.get("scene", "") for r in reg.values()})
        scene = scenes[0] if len(scenes) == 1 else "+".join(scenes)
        dims = {int(r["dim"]) for r in reg.values()}
        if len(dims) != 1:
            raise InputError(None, f"the cameras' embeddings differ in size {sorted(dims)}", field="dim")
        rates = {c: float(r.get("fps") or 0) for c, r in reg.items()}
        fps = self.opts.fps or min((r for r in rates.values() if r > 0), default=10.0)
        detectors = sorted({r["detector"] for r in reg.values() if r.get("detector")})
        reids = sorted({r["reid"] for r in reg.values() if r.get("reid")})
        cfg = models_fitted(self.cfg.for_scene(scene), detectors, reids, scene)
        node_origins = {c: float(r.get("origin", 0.0)) for c, r in reg.items()}
        periods = {c: 1.0 / r for c, r in rates.items() if r > 0}
        wait = LIVE_MAX_WAIT_S if self.opts.live else None
        return ServiceState(
            scene, fps, dims.pop(), min(node_origins.values()), node_origins,
            Associator(cfg.association, fps=fps), StepAssembler(sorted(self.opts.cameras), fps, periods, wait),
        )  # fmt: skip

    def _start(self) -> tuple[ServiceState, ResultsWriter]:
        if self.snapshot_path.is_file():
            with self.snapshot_path.open("rb") as f:
                state: ServiceState = pickle.load(f)
            writer = ResultsWriter(self.out, resume=state.results)
            self.reader.create(start=state.last_read)
            self.resumed_at = state.steps
            log.warning("resuming from %s at step %d (%d rows)", self.snapshot_path, state.steps, state.results[1])
            return state, writer
        state = self._fresh()
        writer = ResultsWriter(self.out)
        self.reader.create()
        return state, writer

    def run(self, stop=None, progress=None) -> RunSummary:
        """Until every camera's stream ended (or ``stop.requested``); the summary of this process's part."""
        if not self.snapshot_path.is_file() and self.out.is_file():
            raise InputError(self.out, "already complete; remove it (or its .snapshot) to run again")
        state, writer = self._start()
        started = time.perf_counter()
        loop = AssociationLoop(state.scene, state.associator, None)
        loop.writer = writer
        loop.summary.steps, loop.summary.observations, loop.summary.rows = state.steps, state.observations, 0
        tracks = Publisher(self.opts.publish) if self.opts.publish else None
        if tracks is not None:
            last = self.reader.last_entry(self.opts.publish.path)
            if last is not None:
                data, fmt = payload(last)
                state.published_step = max(state.published_step, int(decode(data, fmt).info["mcpt.step"]))
        unacked: dict[str, list[bytes]] = defaultdict(list)
        last_snapshot = time.monotonic()
        try:
            while not (stop is not None and stop.requested):
                for stream, msg_id, fields in self.reader.read():
                    data, fmt = payload(fields)
                    cam = self.streams[stream]
                    part = camera_part(decode(data, fmt), state.origin, state.dim, state.node_origins.get(cam))
                    part.msg_id = msg_id
                    if part.eos:
                        state.assembler.close(cam)
                    else:
                        state.assembler.push(cam, part)
                    state.last_read[stream] = msg_id
                    unacked[stream].append(msg_id)
                for st in state.assembler.steps():
                    parts = [st.items[c].batch(st.index, st.timestamp) for c in sorted(st.items)]
                    batch = concat_batches(parts, scene=state.scene, step=st.index, time_s=st.timestamp, dim=state.dim)
                    result = loop.step(batch).result
                    if tracks is not None and st.index > state.published_step:
                        for c in sorted(st.items):
                            msg = tracks_message(batch, result.global_id, result.position, c, state.origin)
                            tracks.publish(self.opts.publish.path, encode(msg, self.opts.publish.fmt))
                        state.published_step = st.index
                    if progress is not None:
                        progress(loop)
                self._ack(state, unacked)
                state.steps, state.observations = loop.summary.steps, loop.summary.observations
                if state.assembler.finished:
                    break
                if time.monotonic() - last_snapshot >= self.opts.snapshot_every_s:
                    self._snapshot(state, writer)
                    last_snapshot = time.monotonic()
        except BaseException:
            writer.abort()  # the partial file and the last snapshot stay for a restart
            raise
        if tracks is not None:
            tracks.close()
        if state.assembler.finished:
            summary = loop.close()
            self.snapshot_path.unlink(missing_ok=True)
        else:  # stopped by a signal: a restart goes on from here
            self._snapshot(state, writer)
            writer.abort()
            summary = loop.summary
            summary.identities = loop.identities
            summary.wall_s = time.perf_counter() - started
        summary.rows = writer.rows_written
        self.late = dict(state.assembler.stats.late)
        return summary

    def _ack(self, state: ServiceState, unacked: dict[str, list[bytes]]) -> None:
        waiting = {p.msg_id for q in state.assembler.queues.values() for p in q}
        done = {s: [i for i in ids if i not in waiting] for s, ids in unacked.items()}
        self.reader.ack(done)
        for s in list(unacked):
            unacked[s] = [i for i in unacked[s] if i in waiting]

    def _snapshot(self, state: ServiceState, writer: ResultsWriter) -> None:
        state.results = (writer.offset(), writer.rows_written)
        _write_snapshot(self.snapshot_path, state)
        self.snapshots += 1
