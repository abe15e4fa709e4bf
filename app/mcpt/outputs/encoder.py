"""Video writers for the pictures: H.264 where this OpenCV/FFmpeg build can encode it, else MPEG-4 Part 2."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError

log = logging.getLogger(__name__)

# The fourcc spellings under which OpenCV builds expose an H.264 encoder, most common first.
H264_FOURCCS = ("avc1", "H264", "X264")
FALLBACK_FOURCC = "mp4v"
_PROBE_SIZE = (160, 120)
_chosen: dict[str, str] = {}  # container suffix -> fourcc, probed once per process


@contextmanager
def _stderr_captured() -> Iterator[Path]:
    """Send the process's stderr (fd 2) to a file while probing.

    FFmpeg and OpenCV print every failed encoder attempt straight to fd 2 (not through Python),
    and a missing H.264 encoder is expected; our one warning says what it means.
    """
    with tempfile.NamedTemporaryFile(prefix="mcpt-probe-", suffix=".log", delete=False) as f:
        path = Path(f.name)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield path
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _writes(folder: Path, fourcc: str, suffix: str) -> bool:
    """Whether ``fourcc`` opens a writer whose test frame lands in a non-empty file."""
    path = folder / f"probe-{fourcc}{suffix}"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, _PROBE_SIZE)
    opened = w.isOpened()
    if opened:
        w.write(np.full((_PROBE_SIZE[1], _PROBE_SIZE[0], 3), 128, np.uint8))
    w.release()
    return opened and path.is_file() and path.stat().st_size > 0


def choose_fourcc(suffix: str = ".mp4") -> str:
    """The first H.264 fourcc that writes a ``suffix`` file here, else ``mp4v`` (one warning per process)."""
    suffix = suffix.lower() or ".mp4"
    if suffix in _chosen:
        return _chosen[suffix]
    chosen = FALLBACK_FOURCC
    with tempfile.TemporaryDirectory(prefix="mcpt-encoder-") as d, _stderr_captured() as noise:
        for fourcc in H264_FOURCCS:
            if _writes(Path(d), fourcc, suffix):
                chosen = fourcc
                break
    text = noise.read_text(errors="replace").strip()
    noise.unlink(missing_ok=True)
    if text:
        log.debug("video encoder probe output:\n%s", text)
    if chosen == FALLBACK_FOURCC:
        log.warning(
            "this OpenCV/FFmpeg build has no H.264 encoder (tried %s); writing %s videos as MPEG-4 Part 2 "
            "(mp4v), which some players and browsers do not play - re-encode with ffmpeg -c:v libx264 if needed",
            ", ".join(H264_FOURCCS),
            suffix,
        )
    else:
        log.debug("video encoder for %s: H.264 (%s)", suffix, chosen)
    _chosen[suffix] = chosen
    return chosen


def open_video_writer(path: str | Path, fps: float, size: tuple[int, int], field: str | None = None) -> cv2.VideoWriter:
    """An opened writer for ``path`` (frames of ``size`` = (width, height)), H.264 where possible."""
    path = Path(path)
    fourcc = choose_fourcc(path.suffix)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))
    if not w.isOpened():
        raise InputError(path, f"cannot write this video (OpenCV/FFmpeg {fourcc}); try another folder or name", field=field)
    return w
