"""Video writers for the pictures: H.264 where this OpenCV/FFmpeg build can encode it, else MPEG-4 Part 2."""

from __future__ import annotations

import logging
import shutil
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
_ffmpeg: list[str | None] = []  # the FFmpeg with libx264, looked for once per process


def _x264() -> str | None:
    if not _ffmpeg:
        _ffmpeg.append(ffmpeg_with_x264())
    return _ffmpeg[0]


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
    if found is None and _x264() is not None:
        log.debug("video encoder for %s: H.264 through FFmpeg (libx264)", suffix)
    elif found is None:
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


def ffmpeg_with_x264() -> str | None:
    """An FFmpeg executable that encodes H.264 with libx264: the imageio-ffmpeg wheel's, else one on PATH."""
    candidates = []
    try:
        import imageio_ffmpeg

        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    if shutil.which("ffmpeg"):
        candidates.append(shutil.which("ffmpeg"))
    for exe in candidates:
        try:
            out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        if " libx264 " in out.stdout:
            return exe
    return None


class FfmpegPipeWriter:
    """cv2.VideoWriter's write/release/isOpened over an FFmpeg child encoding H.264 (libx264, yuv420p).

    The child runs in its own session: a Ctrl-C in the terminal reaches mcpt only, which finishes its
    step and closes the video cleanly instead of losing the encoder mid-stream.
    """

    def __init__(self, exe: str, path: Path, fps: float, size: tuple[int, int]) -> None:
        w, h = size
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24"]
        cmd += ["-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264", "-preset", "veryfast"]
        # yuv420p (what every player decodes) needs even sides
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)]
        self.size = (w, h)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def isOpened(self) -> bool:  # cv2.VideoWriter's method name
        return self.proc.poll() is None

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size)
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            raise OSError(f"the H.264 encoder stopped: {self.proc.stderr.read().decode(errors='replace')}") from None

    def release(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.wait(timeout=120) != 0:
            log.warning("H.264 encoder: %s", self.proc.stderr.read().decode(errors="replace").strip()[:300])


def open_video_writer(path: str | Path, fps: float, size: tuple[int, int], field: str | None = None):
    """An opened writer for ``path`` (frames of ``size`` = (width, height)), H.264 where possible: OpenCV's
    own encoder, else an FFmpeg with libx264 (the imageio-ffmpeg wheel), else MPEG-4 Part 2."""
    path = Path(path)
    fourcc = choose_fourcc(path.suffix)
    if fourcc == FALLBACK_FOURCC and path.suffix.lower() in (".mp4", ".mkv", ".mov"):
        exe = _x264()
        if exe is not None:
            return FfmpegPipeWriter(exe, path, fps, size)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))
    if not w.isOpened():
        why = f"cannot write this video (OpenCV/FFmpeg {fourcc}); try another folder or name"
        raise InputError(path, why, field=field)
    return w


if __name__ == "__main__":  # the child of ``_probe``: prints the fourcc found, or nothing
    print(first_h264(sys.argv[1]) or "")
