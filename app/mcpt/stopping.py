"""How a run is asked to stop: SIGINT or SIGTERM (once: finish the step in flight and end cleanly;
twice: abort) or a ``--duration`` in seconds. Every command that runs a stream uses this one rule.

A clean stop closes the results file (renamed from ``.partial``), finalises the videos and prints
the summary, exactly as the end of the input does. An abort raises KeyboardInterrupt: the rows
written so far stay in ``.partial``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Use as a context manager around a run's loop; the loop ends when ``requested`` is true."""

    def __init__(self, duration_s: float | None = None, on_stop: Callable[[], None] | None = None) -> None:
        self.duration_s = duration_s
        self.on_stop = on_stop  # called once, at the first request (e.g. to leave a GLib main loop)
        self.reason: str | None = None
        self._t0 = time.monotonic()
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        if self.reason is None and self.duration_s is not None and time.monotonic() - self._t0 >= self.duration_s:
            self._request(f"--duration {self.duration_s:g} s reached")
        return self.reason is not None

    def _request(self, reason: str) -> None:
        self.reason = reason
        if self.on_stop is not None:
            self.on_stop()

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.reason is not None:
            log.warning("%s again: aborting (the rows written so far stay in the .partial file)", name)
            raise KeyboardInterrupt
        log.warning("%s: finishing the current step, then closing the outputs (%s again aborts)", name, name)
        self._request(name)

    def __enter__(self) -> StopRequest:
        self._t0 = time.monotonic()
        # handlers can only be installed from the main thread; elsewhere (a worker of a split run)
        # the parent process's signals reach this process and the default behaviour applies
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
