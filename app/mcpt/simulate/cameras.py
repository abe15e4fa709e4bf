"""Cameras placed as in a real site: around the floor, 3-8 m up, looking down at a shared area."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from mcpt.simulate.world import Floor


@dataclass(frozen=True)
class PinholeCamera:
    camera_id: int
    intrinsics: np.ndarray  # K, 3x3
    rotation: np.ndarray  # R, 3x3 world -> camera
    centre: np.ndarray  # C, world position (3,)
    image_size: tuple[int, int]

    @property
    def projection(self) -> np.ndarray:
        """3x4 world -> image matrix K [R | -R C]."""
        return self.intrinsics @ np.concatenate([self.rotation, (-self.rotation @ self.centre)[:, None]], axis=1)

    @property
    def homography(self) -> np.ndarray:
        """3x3 floor (z = 0) -> image: the projection's x, y and translation columns."""
        return self.projection[:, [0, 1, 3]]

    def depth(self, xyz: np.ndarray) -> np.ndarray:
        return (np.asarray(xyz) - self.centre) @ self.rotation[2]

    def project(self, xyz: np.ndarray) -> np.ndarray:
        cam = (np.asarray(xyz) - self.centre) @ self.rotation.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = cam[..., :2] / cam[..., 2:3]
        k = self.intrinsics
        return np.stack([k[0, 0] * uv[..., 0] + k[0, 2], k[1, 1] * uv[..., 1] + k[1, 2]], axis=-1)


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation whose rows are the camera's right, down and forward axes in world coordinates (z up)."""
    forward = target - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def place_cameras(
    n: int,
    floor: Floor,
    rng: np.random.Generator,
    image_size: tuple[int, int],
    height_range: tuple[float, float] = (3.0, 8.0),
    hfov_range_deg: tuple[float, float] = (55.0, 90.0),
    first_id: int = 1,
    aim_spread: float = 0.2,
) -> list[PinholeCamera]:
    """Cameras spread around the floor's perimeter, each aimed at a point of the central area
    (within ``aim_spread`` of the floor's size from its centre)."""
    w, d = floor.width, floor.depth
    centre = np.array([w / 2, d / 2])
    cams = []
    base = rng.uniform(0, 2 * np.pi)
    for k in range(n):
        angle = base + 2 * np.pi * k / max(n, 1) + rng.normal(0, 0.15)
        direction = np.array([np.cos(angle), np.sin(angle)])
        # Put the camera on the wall (the rectangle's boundary) in that direction, a little outside.
        scale = min(
            abs((w / 2) / direction[0]) if abs(direction[0]) > 1e-9 else np.inf,
            abs((d / 2) / direction[1]) if abs(direction[1]) > 1e-9 else np.inf,
        )
        xy = centre + direction * (scale + 0.5)
        height = float(rng.uniform(*height_range))
        offset = rng.uniform(-aim_spread, aim_spread, size=2) * np.array([w, d])
        target_xy = centre + offset - direction * rng.uniform(0, 0.1) * w
        rot = look_at(np.array([xy[0], xy[1], height]), np.array([target_xy[0], target_xy[1], 0.0]))
        hfov = np.deg2rad(rng.uniform(*hfov_range_deg))
        fx = (image_size[0] / 2) / np.tan(hfov / 2)
        k_mat = np.array([[fx, 0, image_size[0] / 2], [0, fx, image_size[1] / 2], [0, 0, 1.0]])
        cams.append(PinholeCamera(first_id + k, k_mat, rot, np.array([xy[0], xy[1], height]), image_size))
    return cams


def place_site_cameras(
    n: int,
    floor: Floor,
    rng: np.random.Generator,
    image_size: tuple[int, int],
    height_range: tuple[float, float],
    hfov_range_deg: tuple[float, float],
    first_id: int = 1,
) -> list[PinholeCamera]:
    """Cameras shared out over the rooms, each on its room's walls aimed at a part of the room: views
    overlap partly, some floor is seen by one camera only, corridors by none."""
    rooms = floor.room_boxes
    per_room = [n // len(rooms) + (1 if k < n % len(rooms) else 0) for k in range(len(rooms))]
    cams: list[PinholeCamera] = []
    for (x0, y0, x1, y1), k in zip(rooms, per_room, strict=True):
        local = Floor(float(x1 - x0), float(y1 - y0), np.zeros((0, 2)))
        for cam in place_cameras(
            k, local, rng, image_size, height_range, hfov_range_deg, first_id + len(cams), aim_spread=0.3
        ):
            cams.append(replace(cam, centre=cam.centre + np.array([x0, y0, 0.0])))
    return cams


def miscalibrated(
    cam: PinholeCamera, rng: np.random.Generator, rotation_deg: float, focal: float, position_m: float
) -> PinholeCamera:
    """The camera as a hand-made calibration describes it: pose, focal length and position a little off."""
    err = Rotation.from_rotvec(rng.normal(0.0, np.deg2rad(rotation_deg), size=3)).as_matrix()
    k = cam.intrinsics.copy()
    f = 1.0 + float(rng.normal(0.0, focal))
    k[0, 0] *= f
    k[1, 1] *= f
    return replace(cam, intrinsics=k, rotation=err @ cam.rotation, centre=cam.centre + rng.normal(0.0, position_m, 3))
