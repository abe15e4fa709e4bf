"""Low furniture that hides people's lower bodies: shelves and counters on the floor.

A shelf is a box on the floor (x0 y0 x1 y1, height). A camera sees a person's body point at
height z unless the line of sight passes through a shelf below its top. Along the floor line from
the camera to the person the sight line falls steadily (the camera is above everyone), so it is
lowest where it leaves the shelf's footprint: everything of the person below ``hidden_below``
there is hidden.
"""

from __future__ import annotations

import numpy as np


def place_shelves(
    rng: np.random.Generator, floor, count: int, size_m: tuple[float, float], height_m: float
) -> np.ndarray:
    """(count, 5) shelves x0 y0 x1 y1 height, at random floor spots, random orientation (axis-aligned)."""
    out = []
    for _ in range(count):
        c = floor.random_point(rng)
        w, d = size_m if rng.random() < 0.5 else size_m[::-1]
        out.append([c[0] - w / 2, c[1] - d / 2, c[0] + w / 2, c[1] + d / 2, height_m])
    return np.array(out, np.float64).reshape(-1, 5)


def _exit_fraction(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(n,) where each floor segment a -> b (n, 2) leaves ``box`` (x0 y0 x1 y1), as a fraction of
    its length; NaN where it misses the box (Liang-Barsky clipping)."""
    d = b - a
    t0, t1 = np.zeros(len(a)), np.ones(len(a))
    for axis, lo, hi in ((0, box[0], box[2]), (1, box[1], box[3])):
        p = d[:, axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            ta, tb = (lo - a[:, axis]) / p, (hi - a[:, axis]) / p
        near, far = np.minimum(ta, tb), np.maximum(ta, tb)
        inside = (a[:, axis] >= lo) & (a[:, axis] <= hi)
        parallel = p == 0
        near = np.where(parallel, np.where(inside, -np.inf, np.inf), near)
        far = np.where(parallel, np.where(inside, np.inf, -np.inf), far)
        t0, t1 = np.maximum(t0, near), np.minimum(t1, far)
    return np.where(t0 <= t1, t1, np.nan)


def hidden_below(camera_xyz: np.ndarray, people_xy: np.ndarray, shelves: np.ndarray) -> np.ndarray:
    """(n,) the height (metres) below which each person is hidden from the camera by shelves (0: none)."""
    out = np.zeros(len(people_xy))
    if not len(shelves) or not len(people_xy):
        return out
    cam = np.broadcast_to(camera_xyz[:2], people_xy.shape)
    h_cam = float(camera_xyz[2])
    for s in shelves:
        t = _exit_fraction(cam, people_xy, s[:4])
        hit = np.isfinite(t) & (t > 1e-6)
        # the sight line to height z at fraction t is at h_cam + (z - h_cam) t; below the top -> hidden
        z = np.where(hit, h_cam - (h_cam - s[4]) / np.where(hit, t, 1.0), 0.0)
        out = np.maximum(out, np.clip(z, 0.0, None))
    return out
