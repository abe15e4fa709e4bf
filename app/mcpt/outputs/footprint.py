"""Where each camera looks on the floor: its footprint (the visible floor, cut at a reach) and its position."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mcpt.geometry import image_grid
from mcpt.scene.calibration import Calibration


@dataclass(frozen=True)
class Footprint:
    """The floor a camera sees: a convex polygon (floor metres) and its point nearest the camera."""

    camera_id: int
    polygon: np.ndarray  # (k, 2)
    anchor: np.ndarray  # (2,) floor point under the image's bottom centre
    camera: np.ndarray | None = None  # (2,) floor point under the camera, where the calibration tells it


def camera_position(calib: Calibration) -> np.ndarray | None:
    """The floor point under the camera centre (from the projection matrix), None where unknown."""
    if calib.projection is None:
        return None
    try:
        centre = -np.linalg.solve(calib.projection[:, :3], calib.projection[:, 3])
    except np.linalg.LinAlgError:
        return None
    return centre[:2] if np.all(np.isfinite(centre)) else None


def camera_footprint(
    camera_id: int, calib: Calibration, size: tuple[int, int], reach_m: float = 8.0
) -> Footprint | None:
    """The image border mapped to the floor, cut at ``reach_m`` from the nearest visible floor point.

    Near the horizon one pixel spans metres and the border runs off to infinity; nobody is found
    there, and a footprint that long would shrink the plan to a corner. The visible floor is the
    image of a convex region (the frame below the horizon), hence convex, and so is its cut by a
    disc: the convex hull of samples of it is the footprint. Returns None if no floor is visible.
    """
    w, h = size
    calib = calib.for_image(size)
    s = np.linspace(0.0, 1.0, 48)
    frame = np.concatenate([np.stack([s * w, np.full_like(s, h)], 1), np.stack([s * w, np.zeros_like(s)], 1)])
    frame = np.concatenate([frame, np.stack([np.zeros_like(s), s * h], 1), np.stack([np.full_like(s, w), s * h], 1)])
    world = calib.image_to_world(np.concatenate([frame, image_grid(w, h, 24)]))
    finite = np.all(np.isfinite(world), axis=1)
    if not finite.any():
        return None
    anchor = calib.image_to_world(np.array([[w / 2.0, h - 1.0]]))[0]
    if not np.all(np.isfinite(anchor)):
        anchor = np.median(world[finite], axis=0)
    world = world[finite]
    near = world[np.linalg.norm(world - anchor, axis=1) <= reach_m]
    # where the view reaches farther, its far edge is the arc at ``reach_m`` (the part of it in view)
    a = np.linspace(0.0, 2 * math.pi, 180, endpoint=False)
    arc = anchor + reach_m * np.stack([np.cos(a), np.sin(a)], 1)
    uv = calib.world_to_image(arc)
    in_frame = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 0) & (uv[:, 0] <= w) & (uv[:, 1] >= 0)
    in_frame &= uv[:, 1] <= h
    # a floor point behind the camera also projects into the frame; the way back rejects it
    ahead = np.zeros(len(arc), bool)
    ahead[in_frame] = np.all(np.isfinite(calib.image_to_world(uv[in_frame])), axis=1)
    pts = np.concatenate([near, arc[ahead]])
    if len(pts) < 3:
        return None
    hull = cv2.convexHull(pts.astype(np.float32))[:, 0].astype(np.float64)
    camera = camera_position(calib)
    if camera is not None and np.linalg.norm(camera - anchor) > reach_m:
        camera = None  # a far-away camera would stretch the plan: its view is labelled instead
    return Footprint(camera_id, hull, anchor, camera)
