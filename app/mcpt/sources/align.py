"""Which frame of each camera belongs to a processing step: the rule the lockstep reader and the replay share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class Timed(Protocol):
    timestamp: float


F = TypeVar("F", bound=Timed)


def nearest_frame(
    pending: F | None, advance: Callable[[], F | None], t: float, half_step: float, frame_period: float = 0.0
) -> tuple[F | None, F | None]:
    """One camera's frame for the step at stream time ``t``: (chosen frame or None, next pending frame).

    Every frame up to half a step after ``t`` belongs to this step (the rest of them are skipped:
    the camera runs faster than the processing); the one nearest ``t`` is chosen, if it is no more
    than half a step before ``t`` (else the camera has no frame at this step: it runs slower, or
    its stream has a gap), and, given the camera's ``frame_period``, if it is still on screen at
    ``t`` (so a stream that ended before ``t`` gives no frame). The replay backend steps its cached
    frames with this same rule.
    """
    best = None
    f = pending
    while f is not None and f.timestamp <= t + half_step:
        if best is None or abs(f.timestamp - t) < abs(best.timestamp - t):
            best = f
        f = advance()
    if best is not None:
        too_early = best.timestamp < t - half_step
        off_screen = frame_period > 0 and t >= best.timestamp + frame_period - 1e-9
        if too_early or off_screen:
            best = None
    return best, f


def half_step(fps: float) -> float:
    return 0.5 / fps + 1e-9
