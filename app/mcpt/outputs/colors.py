"""A stable, well-spread colour per global id."""

from __future__ import annotations

import colorsys

GOLDEN = 0.618033988749895


def id_color(gid: int) -> tuple[int, int, int]:
    """BGR colour for an id; consecutive ids get far-apart hues."""
    if gid < 0:
        return (128, 128, 128)
    h = (gid * GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)
