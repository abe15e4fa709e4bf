"""Text tags on a filled background, and greedy placement that keeps them from overlapping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from mcpt.outputs.colors import BGR, text_color

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive), pixels
FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_size(text: str, scale: float, thickness: int = 1) -> tuple[int, int]:
    """Width and height (ascent only: tags hold digits and lower-case words) of ``text``."""
    (w, h), _ = cv2.getTextSize(text, FONT, scale, thickness)
    return w, h


def tag_size(text: str, scale: float, pad: int = 3) -> tuple[int, int]:
    w, h = text_size(text, scale)
    return w + 2 * pad, h + 2 * pad


def draw_tag(img: np.ndarray, box: Box, text: str, bg: BGR, scale: float, pad: int = 3) -> None:
    """``text`` on a filled ``bg`` rectangle, in black or white, whichever reads on ``bg``."""
    x0, y0, x1, y1 = box
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), bg, -1)
    cv2.putText(img, text, (x0 + pad, y1 - 1 - pad), FONT, scale, text_color(bg), 1, cv2.LINE_AA)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlap_area(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def inside(a: Box, bounds: Box) -> bool:
    return a[0] >= bounds[0] and a[1] >= bounds[1] and a[2] <= bounds[2] and a[3] <= bounds[3]


def shift_inside(a: Box, bounds: Box) -> Box:
    """``a`` moved (not resized) the least distance that puts it inside ``bounds`` where it fits."""
    dx = max(bounds[0] - a[0], min(0, bounds[2] - a[2]))
    dy = max(bounds[1] - a[1], min(0, bounds[3] - a[3]))
    return a[0] + dx, a[1] + dy, a[2] + dx, a[3] + dy


def around_point(x: float, y: float, size: tuple[int, int], gap: int) -> list[Box]:
    """Candidate boxes of ``size`` beside a point: the four diagonals, the four sides, then farther out."""
    w, h = size
    out = []
    for r in (gap, 3 * gap, 6 * gap):
        for dx, dy in ((1, -1), (1, 1), (-1, -1), (-1, 1), (1, 0), (-1, 0), (0, -1), (0, 1)):
            # the corner nearest the point sits ``r`` away from it in the chosen direction
            x0 = round(float(x) + dx * r - (w if dx < 0 else w / 2 if dx == 0 else 0))
            y0 = round(float(y) + dy * r - (h if dy < 0 else h / 2 if dy == 0 else 0))
            out.append((x0, y0, x0 + w, y0 + h))
    return out


def place(candidates: Sequence[Sequence[Box]], bounds: Box, occupied: Iterable[Box] = ()) -> list[Box]:
    """One box per label, greedily in the given order (put the important labels first).

    Each label takes its first candidate that lies inside ``bounds`` and overlaps neither
    ``occupied`` nor a label placed before it. When every candidate collides, it takes the one
    (moved inside ``bounds``) that overlaps the least area.
    """
    taken = list(occupied)
    placed: list[Box] = []
    for cands in candidates:
        choice = next((c for c in cands if inside(c, bounds) and not any(overlaps(c, t) for t in taken)), None)
        if choice is None:
            moved = [shift_inside(c, bounds) for c in cands]
            choice = min(moved, key=lambda c: sum(overlap_area(c, t) for t in taken))
        taken.append(choice)
        placed.append(choice)
    return placed
