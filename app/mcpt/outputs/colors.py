"""Colours of the pictures: one per global id from a perceptual palette, plus the fixed ones."""

from __future__ import annotations

import itertools
from functools import cache

import cv2
import numpy as np

BGR = tuple[int, int, int]

UNCONFIRMED: BGR = (150, 150, 150)  # boxes whose global id is not confirmed yet
PALETTE_SIZE = 32
# Palette limits, CIELAB: darker than this cap so colours read on the light floor plan, more
# chroma than this floor so no id colour is mistaken for the grey of unconfirmed boxes.
MIN_L, MAX_L, MIN_CHROMA = 35.0, 78.0, 38.0


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """(N, 3) BGR (0-255) -> (N, 3) CIELAB (L 0-100)."""
    px = np.asarray(bgr, np.float32).reshape(1, -1, 3) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_BGR2Lab)[0].astype(np.float64)


@cache
def palette() -> tuple[BGR, ...]:
    """``PALETTE_SIZE`` BGR colours, greedily chosen to be far apart in CIELAB (Glasbey's method).

    Each colour is the candidate farthest from every colour chosen before it, so not only the
    whole set but also *consecutive* ids (the ones most often on screen together) stay distinct.
    """
    levels = np.linspace(0.0, 255.0, 18)
    cand = np.array(list(itertools.product(levels, repeat=3)))
    lab = to_lab(cand)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    keep = (lab[:, 0] >= MIN_L) & (lab[:, 0] <= MAX_L) & (chroma >= MIN_CHROMA)
    cand, lab = cand[keep], lab[keep]
    # start far from the greys the pictures already use (backgrounds, unconfirmed boxes)
    greys = to_lab(np.array([[245.0] * 3, [float(UNCONFIRMED[0])] * 3, [40.0] * 3]))
    dist = np.linalg.norm(lab[:, None] - greys[None], axis=2).min(axis=1)
    picks = []
    for _ in range(PALETTE_SIZE):
        i = int(np.argmax(dist))
        picks.append(i)
        dist = np.minimum(dist, np.linalg.norm(lab - lab[i], axis=1))
    return tuple(tuple(round(float(v)) for v in cand[i]) for i in picks)


def id_color(gid: int) -> BGR:
    """BGR colour of a global id (cycled past ``PALETTE_SIZE``); grey for an unconfirmed one (< 0)."""
    if gid < 0:
        return UNCONFIRMED
    return palette()[(gid - 1) % PALETTE_SIZE]


def text_color(bg: BGR) -> BGR:
    """Near-black or white, whichever reads better on ``bg``."""
    return (20, 20, 20) if to_lab(np.array([bg]))[0, 0] > 62 else (255, 255, 255)


def blend(color: BGR, bg: BGR, alpha: float) -> BGR:
    """``color`` at opacity ``alpha`` over ``bg``."""
    return tuple(round(alpha * c + (1 - alpha) * b) for c, b in zip(color, bg, strict=True))
