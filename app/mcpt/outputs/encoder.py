"""Video writers for the pictures: H.264 where this OpenCV/FFmpeg build can encode it, else MPEG-4 Part 2."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError

log = logging.getLogger(__name__)

# The fourcc spellings under which OpenCV builds expose an H.264 encoder, most common first.
H264_FOURCCS = ("avc1", "H264", "X264")
FALLBACK_FOURCC = "mp4v"
_PROBE_SIZE = (160, 120)
_PROBE_TIMEOUT_S = 60
_chosen: dict[str, str] = {}  # container suffix -> fourcc, probed once per process


def _writes(folder: Path, fourcc: str, suffix: str) -> bool:
    """Whether ``fourcc`` opens a writer whose test frame lands in a non-empty file."""
    path = folder / f"probe-{fourcc}{suffix}"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, _PROBE_SIZE)
    opened = w.isOpened()
    if opened:
        w.write(np.full((_PROBE_SIZE[1], _PROBE_SIZE[0], 3), 128, np.uint8))
    w.release()
    return opened and path.is_file() and path.stat().st_size > 0


def first_h264(suffix: str) -> str | None:
    """The first H.264 fourcc that writes a ``suffix`` file here (prints FFmpeg's complaints on the way)."""
    with tempfile.TemporaryDirectory(prefix="mcpt-encoder-") as d:
        return next((fourcc for fourcc in H264_FOURCCS if _writes(Path(d), fourcc, suffix)), None)


def _probe(suffix: str) -> tuple[str | None, str]:
    """``first_h264`` run in a child process, and what the child printed on stderr.

    FFmpeg and OpenCV print every failed encoder attempt straight to the process's stderr, and a
    missing H.264 encoder is expected: a child keeps those lines off the user's terminal without
    muting this process's own stderr (other threads, signal messages) meanwhile.
    """
    cmd = [sys.executable, "-m", __name__, suffix]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)
    found = proc.stdout.strip()
    return (found if found in H264_FOURCCS else None), proc.stderr


def choose_fourcc(suffix: str = ".mp4") -> str:
    """The first H.264 fourcc that writes a ``suffix`` file here, else ``mp4v`` (one warning per process)."""
    suffix = suffix.lower() or ".mp4"
    if suffix in _chosen:
        return _chosen[suffix]
    found, noise = _probe(suffix)
    if noise.strip():
        log.debug("video encoder probe output:\n%s", noise.strip())
    if found is None:
        log.warning(
            "this OpenCV/FFmpeg build has no H.264 encoder (tried %s); writing %s videos as MPEG-4 Part 2 "
            "(mp4v), which some players and browsers do not play - re-encode with ffmpeg -c:v libx264 if needed",
            ", ".join(H264_FOURCCS),
            suffix,
        )
    else:
        log.debug("video encoder for %s: H.264 (%s)", suffix, found)
    _chosen[suffix] = found or FALLBACK_FOURCC
    return _chosen[suffix]


def open_video_writer(path: str | Path, fps: float, size: tuple[int, int], field: str | None = None) -> cv2.VideoWriter:
    """An opened writer for ``path`` (frames of ``size`` = (width, height)), H.264 where possible."""
    path = Path(path)
    fourcc = choose_fourcc(path.suffix)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))
    if not w.isOpened():
        why = f"cannot write this video (OpenCV/FFmpeg {fourcc}); try another folder or name"
        raise InputError(path, why, field=field)
    return w


if __name__ == "__main__":  # the child of ``_probe``: prints the fourcc found, or nothing
    print(first_h264(sys.argv[1]) or "")
