"""Time steps from cameras whose frames arrive on their own schedule (DeepStream batches, a message bus).

Each camera's items (anything with a ``timestamp`` in seconds of stream time) are pushed as they
come; a step at time k / fps is formed once every camera either has an item past it (so no nearer
one can still come) or has ended, and each camera contributes its item nearest the step's time by
the lockstep reader's rule (``align.nearest_frame``). For live input a step is also formed when it
has waited ``max_wait_s`` for a late camera; that camera's items that arrive later for it are
counted as late and dropped (the wait runs from the moment some camera delivered an item past the
step, so a dead camera delays every step by at most ``max_wait_s``, not one after the other). File
input never waits out: nothing is lost.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from mcpt.sources.align import half_step, nearest_frame


@dataclass
class AssembledStep:
    index: int
    timestamp: float
    items: dict[int, object]  # camera id -> its item for this step


@dataclass
class AssemblerStats:
    steps: int = 0
    late: dict[int, int] = field(default_factory=dict)  # camera -> items dropped for arriving after their step


class StepAssembler:
    def __init__(
        self,
        camera_ids: list[int],
        fps: float,
        frame_periods: dict[int, float] | None = None,
        max_wait_s: float | None = None,
        clock=time.monotonic,
    ) -> None:
        self.fps = fps
        self.half = half_step(fps)
        self.periods = frame_periods or {}
        self.max_wait_s = max_wait_s  # None: wait for every camera (files)
        self.clock = clock
        self.queues: dict[int, deque] = {c: deque() for c in camera_ids}
        self.closed: set[int] = set()
        self.next_index = 0
        self.passed: deque[tuple[float, float]] = deque()  # (newest timestamp so far, wall time it arrived)
        self.stats = AssemblerStats()

    @property
    def t(self) -> float:
        return self.next_index / self.fps

    def push(self, camera_id: int, item) -> None:
        if camera_id in self.closed:
            return
        if item.timestamp < self.t - self.half:  # its step was formed without it
            self.stats.late[camera_id] = self.stats.late.get(camera_id, 0) + 1
            return
        self.queues.setdefault(camera_id, deque()).append(item)
        if not self.passed or item.timestamp > self.passed[-1][0]:
            self.passed.append((item.timestamp, self.clock()))

    def close(self, camera_id: int) -> None:
        """The camera ended (end of its stream, or it failed): steps no longer wait for it."""
        self.closed.add(camera_id)

    def close_all(self) -> None:
        self.closed.update(self.queues)

    def _decided(self, cam: int, t: float) -> bool:
        q = self.queues[cam]
        return cam in self.closed or (bool(q) and q[-1].timestamp > t + self.half)

    def _waited_out(self, t: float) -> bool:
        """Live input: some camera went past this step at least ``max_wait_s`` ago."""
        if self.max_wait_s is None:
            return False
        while len(self.passed) > 1 and self.passed[1][0] <= t + self.half:
            self.passed.popleft()
        first = next((wall for ts, wall in self.passed if ts > t + self.half), None)
        return first is not None and self.clock() - first >= self.max_wait_s

    def _finished(self) -> bool:
        return all(c in self.closed and not q for c, q in self.queues.items())

    @property
    def finished(self) -> bool:
        """Every camera ended and every item went into a step."""
        return self._finished()

    def steps(self) -> Iterator[AssembledStep]:
        """Every step that can be formed now, in order."""
        while not self._finished():
            t = self.t
            if not all(self._decided(c, t) for c in self.queues) and not self._waited_out(t):
                return
            items = {}
            for cam, q in self.queues.items():
                pending = q.popleft() if q else None
                best, pending = nearest_frame(
                    pending, lambda q=q: q.popleft() if q else None, t, self.half, self.periods.get(cam, 0.0)
                )
                if pending is not None:
                    q.appendleft(pending)
                if best is not None:
                    items[cam] = best
            if not items and self._finished():
                return  # every stream ended before this step
            self.next_index += 1
            self.stats.steps += 1
            yield AssembledStep(self.next_index - 1, t, items)
