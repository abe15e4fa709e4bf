"""Image <-> ground-plane geometry through a planar homography (world z = 0 plane)."""

from __future__ import annotations

import numpy as np

# Homogeneous scale below which a point is treated as lying on the horizon (maps to infinity).
_HORIZON_EPS = 1e-12


def foot_points(bbox_xywh: np.ndarray) -> np.ndarray:
    """Bottom-centre of each x, y, w, h box: where the person stands on the floor."""
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0] + 0.5 * b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union between x, y, w, h boxes."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    wh = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


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


# A person's floor position lies behind the box's bottom-centre (the feet nearest the camera).
DEFAULT_FOOT_OFFSET_M = 0.1
# Box edge noise of a detector as a share of box height, and the floor of any foot-point error.
BOX_NOISE_SHARE = 0.03
MIN_WORLD_STD_M = 0.05
# Feet cut off by the image's bottom edge: the floor position is unknown along the viewing ray.
CUT_FEET_STD_M = 5.0
# Feet extrapolated from the visible body (mcpt.pose.foot): error as a share of the person's height
POSE_FOOT_SHARE = 0.05


def foot_pixels(
    bbox_xywh: np.ndarray, projection: np.ndarray | None = None, foot_y: np.ndarray | None = None
) -> np.ndarray:
    """Where a person stands, in the image.

    Without a projection matrix this is the box's bottom-centre. With one, vertical lines are not
    vertical in a tilted camera's image: they converge at the vertical vanishing point (the image
    of the z axis, ``P[:, 2]``), so the standing point is where the line from that point through
    the box centre meets the box's bottom edge. ``foot_y`` (N,), where finite, is the feet's row
    instead of the bottom edge (feet hidden, extrapolated from the pose).
    """
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    bottom = foot_points(b)
    if foot_y is not None:
        bottom[:, 1] = np.where(np.isfinite(foot_y), foot_y, bottom[:, 1])
    if projection is None or not len(b):
        return bottom
    vx, vy, vw = projection[:, 2]
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    yb = bottom[:, 1]
    # walk from the box centre towards the vanishing point (homogeneous) until y reaches the bottom edge
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (yb - cy) / (vy - yb * vw)
        x = (cx + lam * vx) / (1.0 + lam * vw)
    pts = np.stack([x, yb], axis=1)
    # keep the corrected x within the box; fall back where the geometry degenerates
    ok = np.isfinite(pts).all(axis=1) & (pts[:, 0] >= b[:, 0]) & (pts[:, 0] <= b[:, 0] + b[:, 2])
    return np.where(ok[:, None], pts, bottom)


def standing_points(
    bbox_xywh: np.ndarray,
    homography_inv: np.ndarray,
    front_sign: float,
    image_height: int,
    projection: np.ndarray | None = None,
    foot_offset_m: float = DEFAULT_FOOT_OFFSET_M,
    foot_y: np.ndarray | None = None,
    stature_px: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Floor position (N, 2) of each boxed person and its standard deviation in metres (N,).

    The foot pixel (see ``foot_pixels``) goes to the floor through the homography, then moves
    ``foot_offset_m`` away from the camera. The deviation scales the detector's box noise by the
    floor distance one pixel spans there, so distant people count less when cameras are fused;
    feet cut off by the image's bottom edge get ``CUT_FEET_STD_M``. Where ``foot_y`` is finite the feet
    were extrapolated from the pose (hidden, even below the image): the deviation is then
    ``POSE_FOOT_SHARE`` of the person's height ``stature_px``, and a cut-off box is usable.
    """
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    feet = foot_pixels(b, projection, foot_y)
    world = apply_homography(homography_inv, feet, front_sign)
    below = apply_homography(homography_inv, feet + np.array([0.0, 1.0]), front_sign)
    step = below - world  # floor metres per pixel down the image, pointing at the camera
    metres_per_px = np.linalg.norm(step, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        toward = step / metres_per_px[:, None]
    world = world - foot_offset_m * np.nan_to_num(toward)
    std = np.hypot(BOX_NOISE_SHARE * b[:, 3] * metres_per_px, MIN_WORLD_STD_M)
    cut = b[:, 1] + b[:, 3] >= image_height - 2.0
    if foot_y is not None:
        posed = np.isfinite(foot_y)
        size = stature_px if stature_px is not None else b[:, 3]
        std = np.where(posed, np.hypot(POSE_FOOT_SHARE * size * metres_per_px, MIN_WORLD_STD_M), std)
        cut &= ~posed
    std = np.where(cut, CUT_FEET_STD_M, std)
    std = np.where(np.isfinite(std), std, np.inf)
    return world, std
