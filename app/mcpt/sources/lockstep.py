"""All cameras of a scene in lockstep: one dict {camera: Frame} per time step.

Files are aligned by stream time: step k is at k / fps (fps = the slowest camera's, or given),
and each camera contributes its frame nearest that time, so cameras with different frame rates
or resolutions line up; a camera whose file ends stops contributing while the others go on.
Live cameras are sampled: each step takes the newest frame every camera has delivered since the
last step; a camera that is reconnecting is simply absent until it is back.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass

from mcpt.sources.align import half_step, nearest_frame
from mcpt.sources.camera import CameraSource, Frame
from mcpt.timebase import DEFAULT_FPS

log = logging.getLogger(__name__)


@dataclass
class Step:
    index: int  # processing step
    timestamp: float  # the step's stream time, seconds (index / fps for files)
    frames: dict[int, Frame]  # camera id -> its frame for this step (each with its own source index)


class LockstepReader:
    def __init__(
        self,
        sources: list[CameraSource],
        fps: float | None = None,
        max_steps: int | None = None,
        live_timeout_s: float = 30.0,
    ) -> None:
        self.sources = sources
        self.requested_fps = fps
        self.max_steps = max_steps
        self.live = any(s.live for s in sources)
        self.live_timeout_s = live_timeout_s
        self.fps = fps or DEFAULT_FPS
        self._pending: dict[int, Frame | None] = {}

    def start(self) -> None:
        for s in self.sources:
            s.start()
        for s in self.sources:
            s.opened.wait(timeout=15.0)
        if not self.live:
            rates = [s.fps for s in self.sources if s.fps]
            self.fps = self.requested_fps or (min(rates) if rates else DEFAULT_FPS)
            if len({round(r, 3) for r in rates}) > 1:
                log.info("cameras run at %s fps; stepping at %.2f fps by stream time", sorted(set(rates)), self.fps)

    def stop(self) -> None:
        for s in self.sources:
            s.stop()
        for s in self.sources:
            s.join(timeout=5.0)

    def __iter__(self) -> Iterator[Step]:
        return self._live_steps() if self.live else self._file_steps()

    # -- files -------------------------------------------------------------------------------------
    def _next_frame(self, src: CameraSource) -> Frame | None:
        while True:
            try:
                return src.queue.get(timeout=0.1)
            except queue.Empty:
                if src.ended and src.queue.empty():
                    return None

    def _file_steps(self) -> Iterator[Step]:
        k = 0
        half = half_step(self.fps)
        pending = {s.camera_id: self._next_frame(s) for s in self.sources}
        while any(f is not None for f in pending.values()):
            if self.max_steps is not None and k >= self.max_steps:
                return
            t = k / self.fps
            frames = {}
            for s in self.sources:
                period = 1.0 / (s.fps or self.fps)
                best, pending[s.camera_id] = nearest_frame(
                    pending[s.camera_id], lambda s=s: self._next_frame(s), t, half, period
                )
                if best is not None:
                    frames[s.camera_id] = best
            if not frames and all(f is None for f in pending.values()):
                return  # every stream ended before this step
            yield Step(k, t, frames)
            k += 1

    # -- live --------------------------------------------------------------------------------------
    def _live_steps(self) -> Iterator[Step]:
        k = 0
        period = 1.0 / self.fps
        t0 = time.monotonic()
        last_any = time.monotonic()
        while self.max_steps is None or k < self.max_steps:
            target = t0 + k * period
            now = time.monotonic()
            if target > now:
                time.sleep(target - now)
            frames = {}
            for s in self.sources:
                newest = None
                while True:
                    try:
                        newest = s.queue.get_nowait()
                    except queue.Empty:
                        break
                if newest is not None:
                    frames[s.camera_id] = newest
            if frames:
                last_any = time.monotonic()
            elif time.monotonic() - last_any > self.live_timeout_s:
                log.error("no camera delivered a frame for %.0f s; stopping", self.live_timeout_s)
                return
            if all(s.ended for s in self.sources):
                return
            yield Step(k, time.monotonic() - t0, frames)
            k += 1
