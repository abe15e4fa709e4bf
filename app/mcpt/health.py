"""Live-run health: is the pipeline keeping up with the configured rate, and do the cameras' clocks agree?

A live run samples the newest frame of each camera every step; when processing is slower than
the configured fps the cameras' threads drop frames, and the results thin out in time. When one
camera's stream runs late (a congested link, a camera buffering), its frames at a step show the
floor at another moment than the others', and cross-camera matches fail. Both are warned about
once per episode, with the figures and the fix, and summed up per camera at the end.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class CameraHealth:
    frames: int = 0  # frames that went into a step
    segment: int = -1  # the stream segment (reconnections) the offset was taken in
    first_offset: float | None = None  # stream time - arrival time at the first frame
    drift_s: float = 0.0  # latest (stream time - arrival time) change since the first frame
    max_drift_s: float = 0.0  # largest |drift| relative to the cameras' median, over the run


@dataclass
class LiveHealth:
    fps: float  # the configured processing rate
    slow_warn_s: float = 5.0
    max_drift_s: float = 1.0
    window_s: float = 3.0  # the processing rate is measured over this much wall time
    cameras: dict[int, CameraHealth] = field(default_factory=dict)
    slow_warnings: int = 0
    drift_warnings: int = 0
    _times: deque = field(default_factory=deque)
    _slow_since: float | None = None
    _slow_warned: bool = False
    _drift_warned: bool = False

    def step(self, frames: dict, dropped: int, now: float | None = None) -> None:
        """One processed step: ``frames`` {camera: Frame} (``stream_time``, ``wall_time``), ``dropped``
        the frames the cameras have dropped so far."""
        now = time.monotonic() if now is None else now
        self._rate(now, dropped)
        self._drift(frames)

    def rate(self) -> float:
        """Steps per second over the last ``window_s`` of wall time (NaN until the window has two steps)."""
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return float("nan")
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def _rate(self, now: float, dropped: int) -> None:
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window_s:
            self._times.popleft()
        rate = self.rate()
        if math.isnan(rate) or now - self._times[0] < 0.5 * self.window_s:
            return
        if rate < 0.9 * self.fps:
            self._slow_since = self._slow_since if self._slow_since is not None else now
            if not self._slow_warned and now - self._slow_since >= self.slow_warn_s:
                self._slow_warned = True
                self.slow_warnings += 1
                log.warning(
                    "falling behind: %.1f steps/s for %.0f s against %g fps configured; %d frames dropped so far. "
                    "Lower --fps, use a lighter model (--set detector.interval=2, a smaller detector) or more "
                    "--threads",
                    rate,
                    now - self._slow_since,
                    self.fps,
                    dropped,
                )
        else:
            if self._slow_warned:
                log.info("keeping up again: %.1f steps/s", rate)
            self._slow_since, self._slow_warned = None, False

    def _drift(self, frames: dict) -> None:
        drifts = {}
        for cam, f in frames.items():
            h = self.cameras.setdefault(cam, CameraHealth())
            h.frames += 1
            offset = f.stream_time - f.wall_time
            if h.first_offset is None or f.segment != h.segment:
                h.first_offset, h.segment = offset, f.segment
            h.drift_s = offset - h.first_offset
            drifts[cam] = h.drift_s
        if len(drifts) < 2:
            return
        values = sorted(drifts.values())
        median = values[len(values) // 2]
        for cam, d in drifts.items():
            h = self.cameras[cam]
            h.max_drift_s = max(h.max_drift_s, abs(d - median))
        spread = values[-1] - values[0]
        if spread > self.max_drift_s:
            if not self._drift_warned:
                self._drift_warned = True
                self.drift_warnings += 1
                behind = min(drifts, key=drifts.get)
                log.warning(
                    "cameras out of sync: their stream clocks drifted %.1f s apart (camera %s furthest behind; "
                    "limit live.max_drift_s = %g s); cross-camera matches suffer until they agree again",
                    spread,
                    behind,
                    self.max_drift_s,
                )
        elif spread < 0.5 * self.max_drift_s:
            self._drift_warned = False
