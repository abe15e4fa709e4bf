"""Time: the one default processing rate, and durations (seconds) turned into processing steps.

Every duration of the configuration is in seconds; the trackers count processing steps. They
convert once, with the rate they actually run at, so a setting means the same time on a 10 fps
live camera and on a 30 fps video.
"""

from __future__ import annotations

import math

# The processing rate when nothing else says: a live camera without --fps or a rate in
# cameras.yaml, a video or cache that reports no rate. 10 fps is what the CPU pipeline sustains
# for a few cameras and what AIC24-style association needs (people move 0.1-0.2 m per step).
DEFAULT_FPS = 10.0


def to_steps(seconds: float, fps: float) -> int:
    """``seconds`` as a whole number of steps at ``fps`` (nearest; halves round up)."""
    return max(0, math.floor(seconds * fps + 0.5 + 1e-9))


def period_steps(seconds: float, fps: float) -> int:
    """A period of ``seconds`` in steps, at least one step; 0 stays 0 (= never)."""
    return 0 if seconds <= 0 else max(1, to_steps(seconds, fps))
