"""One camera decoded in its own thread: a video file (ends at its end) or a live RTSP stream
(reconnected with backoff when it drops, the gap logged and counted).

OpenCV's FFmpeg backend reads both; RTSP goes over TCP with open/read timeouts, so a dead server
is noticed in seconds instead of hanging the reader.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mcpt.timebase import DEFAULT_FPS

log = logging.getLogger(__name__)

# FFmpeg options for RTSP, read when a capture is opened: TCP (no UDP loss or NAT trouble)
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
# FFmpeg's and OpenCV's own log lines (a refused connection, a damaged block, on every reconnect attempt)
# are silenced: the source reports each of these itself, in one line naming the camera; a user's own
# setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
if "OPENCV_LOG_LEVEL" not in os.environ:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # read at cv2 import, so set here
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


@dataclass
class Frame:
    camera_id: int
    index: int  # source frame number: position in this camera's stream (live: frames since the run started)
    timestamp: float  # seconds: stream time for files, time since the run started for live cameras
    image: np.ndarray  # BGR
    wall_time: float = 0.0  # time.time() when it was decoded
    stream_time: float = 0.0  # the stream's own clock (presentation time), seconds; files: index / fps
    segment: int = 0  # live: reconnections before this frame (a reconnected stream restarts its clock)


@dataclass
class Gap:
    start: float  # time.monotonic() when the stream dropped
    end: float | None = None  # ... and when frames came again

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.monotonic()) - self.start


@dataclass
class SourceStats:
    frames: int = 0
    decode_s: float = 0.0
    dropped: int = 0  # live frames replaced by newer ones before the pipeline took them
    reconnects: int = 0
    gaps: list[Gap] = field(default_factory=list)


def is_live(uri: str) -> bool:
    return uri.lower().startswith(("rtsp://", "rtsps://", "rtmp://", "http://", "https://"))


def video_fps(path: str | Path) -> float | None:
    """The frame rate a video file declares (None if it declares none or cannot be opened)."""
    cap = cv2.VideoCapture(str(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if fps and np.isfinite(fps) and 0 < fps < 1000 else None


def open_capture(uri: str) -> cv2.VideoCapture:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
    return cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)


class CameraSource(threading.Thread):
    """Decodes one camera into a bounded queue of Frames.

    Files block when the queue is full (the pipeline sets the pace); live streams keep only the
    newest frames (a slow pipeline drops old frames rather than falling behind real time).
    """

    def __init__(
        self,
        camera_id: int,
        uri: str | Path,
        t0: float | None = None,
        queue_size: int = 8,
        max_reconnects: int | None = None,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        super().__init__(name=f"camera-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.uri = str(uri)
        self.live = is_live(self.uri)
        self.queue: queue.Queue[Frame] = queue.Queue(maxsize=2 if self.live else queue_size)
        self.t0 = time.monotonic() if t0 is None else t0
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.stats = SourceStats()
        self.fps: float | None = None
        self.size: tuple[int, int] | None = None
        self.frame_count: int | None = None
        self.error: str | None = None  # why the camera failed or ended early
        self.opened = threading.Event()  # set once the first frame is decoded (or it failed)
        self._stop_event = threading.Event()
        self.finished = threading.Event()

    # -- control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop_event.set()

    @property
    def ended(self) -> bool:
        return self.finished.is_set()

    @property
    def reconnecting(self) -> bool:
        return bool(self.stats.gaps) and self.stats.gaps[-1].end is None

    # -- thread ----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if self.live:
                self._run_live()
            else:
                self._run_file()
        finally:
            self.opened.set()
            self.finished.set()

    def _probe(self, cap: cv2.VideoCapture) -> None:
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and np.isfinite(fps) and 0 < fps < 1000 else None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None

    def _run_file(self) -> None:
        if not Path(self.uri).is_file():
            self.error = f"video not found: {self.uri}"
            log.error("camera %s: %s", self.camera_id, self.error)
            return
        cap = open_capture(self.uri)
        if not cap.isOpened():
            self.error = f"cannot open {self.uri} (not a video FFmpeg can read)"
            log.error("camera %s: %s", self.camera_id, self.error)
            return
        self._probe(cap)
        fps = self.fps or DEFAULT_FPS
        index = 0
        while not self._stop_event.is_set():
            t = time.perf_counter()
            ok, img = cap.read()
            self.stats.decode_s += time.perf_counter() - t
            if not ok or img is None:
                break
            if self.size is None:
                self.size = (img.shape[1], img.shape[0])
                self.opened.set()
            self._put_blocking(Frame(self.camera_id, index, index / fps, img, time.time(), index / fps))
            index += 1
            self.stats.frames += 1
        cap.release()
        if index == 0:
            self.error = f"no frame could be decoded from {self.uri} (corrupt or empty video)"
            log.error("camera %s: %s", self.camera_id, self.error)
        elif self.frame_count and index < self.frame_count - 1 and not self._stop_event.is_set():
            self.error = f"{self.uri} ended after {index} of {self.frame_count} frames (truncated or corrupt)"
            log.warning("camera %s: %s; the other cameras go on", self.camera_id, self.error)

    def _put_blocking(self, frame: Frame) -> None:
        while not self._stop_event.is_set():
            try:
                self.queue.put(frame, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run_live(self) -> None:
        delay = self.backoff[0]
        attempts = 0
        index = 0
        while not self._stop_event.is_set():
            cap = open_capture(self.uri)
            if not cap.isOpened():
                cap.release()
                if index == 0 and not self.stats.gaps:
                    self.error = f"cannot connect to {self.uri}"
                    log.error("camera %s: %s; retrying in %.1f s", self.camera_id, self.error, delay)
                    self.opened.set()
                attempts += 1
                delay = self._wait_before_retry(attempts, delay)
                if delay is None:
                    return
                continue
            self._probe(cap)
            if self.stats.gaps and self.stats.gaps[-1].end is None:
                self.stats.reconnects += 1
            while not self._stop_event.is_set():
                t = time.perf_counter()
                ok, img = cap.read()
                self.stats.decode_s += time.perf_counter() - t
                if not ok or img is None:
                    break
                if self.reconnecting:
                    gap = self._close_gap()
                    log.warning("camera %s: reconnected after a %.1f s gap", self.camera_id, gap.seconds)
                if self.size is None:
                    self.size = (img.shape[1], img.shape[0])
                self.error = None
                self.opened.set()
                attempts, delay = 0, self.backoff[0]
                now = time.time()
                pts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                stream_time = pts if np.isfinite(pts) and pts > 0 else now
                frame = Frame(
                    self.camera_id, index, time.monotonic() - self.t0, img, now, stream_time, self.stats.reconnects
                )
                self._put_latest(frame)
                index += 1
                self.stats.frames += 1
            cap.release()
            if self._stop_event.is_set():
                break
            if not self.reconnecting:
                self.stats.gaps.append(Gap(time.monotonic()))
                log.warning(
                    "camera %s: stream dropped; reconnecting (backoff %.1f-%.1f s)", self.camera_id, *self.backoff
                )
            attempts += 1
            delay = self._wait_before_retry(attempts, delay)
            if delay is None:
                return

    def _wait_before_retry(self, attempts: int, delay: float) -> float | None:
        """Sleep ``delay`` (interruptible) and return the next, doubled up to the cap; None: give up."""
        if self.max_reconnects is not None and attempts > self.max_reconnects:
            log.error("camera %s: giving up after %d attempts", self.camera_id, attempts)
            self._close_gap()
            return None
        self._stop_event.wait(delay)
        return min(delay * 2, self.backoff[1])

    def _close_gap(self) -> Gap:
        gap = self.stats.gaps[-1] if self.stats.gaps else Gap(time.monotonic())
        if gap.end is None:
            gap.end = time.monotonic()
        return gap

    def _put_latest(self, frame: Frame) -> None:
        while True:
            try:
                self.queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass
