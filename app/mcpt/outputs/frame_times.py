"""The frame-time sidecar of a live run: which wall-clock moment each result row's frame id stands for.

Live cameras have no file to count frames in: their frame ids count the frames each camera
delivered since the run started. ``NAME.times.csv`` beside the results file maps every processed
(camera, frame id) to its stream time (seconds since the run started) and the wall-clock time of
its decoding (UTC, ISO 8601), one line per camera frame, written as the run goes.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from mcpt.scene.results import ResultsWriter

HEADER = "camera_id,frame_id,stream_time_s,wall_clock_utc\n"


def times_path(results: str | Path) -> Path:
    p = Path(results)
    return p.with_name(p.stem + ".times.csv")


class FrameTimesWriter(ResultsWriter):
    def __init__(self, results: str | Path) -> None:
        super().__init__(times_path(results))
        self.write_text(HEADER, 0)

    def write_step(self, frames) -> None:
        """``frames``: camera id -> Frame (``index``, ``timestamp``, ``wall_time``) of one step."""
        lines = []
        for cid, f in sorted(frames.items()):
            wall = datetime.datetime.fromtimestamp(f.wall_time, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            )
            lines.append(f"{cid},{f.index},{f.timestamp:.3f},{wall}\n")
        self.write_text("".join(lines), len(lines))
