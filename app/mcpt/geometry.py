"""Image <-> ground-plane geometry through a planar homography (world z = 0 plane)."""

from __future__ import annotations

import numpy as np

# Homogeneous scale below which a point is treated as lying on the horizon (maps to infinity).
_HORIZON_EPS = 1e-12


def foot_points(bbox_xywh: np.ndarray) -> np.ndarray:
    """Bottom-centre of each x, y, w, h box: where the person stands on the floor."""
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0] + 0.5 * b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def apply_homography(h: np.ndarray, points: np.ndarray, front_sign: float = 0.0) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography.

    Points whose homogeneous scale is ~0, or (when ``front_sign`` is +1/-1) has the wrong sign,
    map to NaN: they lie on or beyond the horizon, i.e. not on the visible ground plane.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    hom = p @ h[:, :2].T + h[:, 2]
    w = hom[:, 2]
    bad = np.abs(w) < _HORIZON_EPS
    if front_sign:
        bad |= np.sign(w) != np.sign(front_sign)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = hom[:, :2] / w[:, None]
    out[bad] = np.nan
    return out


def project_points(projection: np.ndarray, points_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, 3) world points with a 3x4 matrix; returns pixels (N, 2) and depth scale (N,)."""
    x = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)
    hom = x @ projection[:, :3].T + projection[:, 3]
    w = hom[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = hom[:, :2] / w[:, None]
    return uv, w


def image_grid(width: int, height: int, steps: int = 12) -> np.ndarray:
    """A regular grid of pixel positions over an image (used for calibration checks)."""
    us = np.linspace(0.0, width - 1.0, steps)
    vs = np.linspace(0.0, height - 1.0, steps)
    uu, vv = np.meshgrid(us, vs)
    return np.stack([uu.ravel(), vv.ravel()], axis=1)


def projection_homography_error(projection: np.ndarray, homography: np.ndarray, image_size: tuple[int, int]) -> float:
    """Median pixel disagreement between the homography and the projection matrix on the floor.

    Image points are sent to the floor through the inverse homography, then back to the image
    through the projection matrix at z = 0; a consistent calibration returns them unchanged.
    """
    h_inv = np.linalg.inv(homography)
    pix = image_grid(*image_size)
    world = apply_homography(h_inv, pix)
    ok = np.all(np.isfinite(world), axis=1)
    if not ok.any():
        return float("inf")
    xyz = np.concatenate([world[ok], np.zeros((int(ok.sum()), 1))], axis=1)
    back, _depth = project_points(projection, xyz)
    err = np.linalg.norm(back - pix[ok], axis=1)
    err[~np.isfinite(err)] = np.inf
    return float(np.median(err))
