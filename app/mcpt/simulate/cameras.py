"""Cameras placed as in a real site: around the floor, 3-8 m up, looking down at a shared area."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
) -> list[PinholeCamera]:
    """Cameras spread around the floor's perimeter, each aimed at a point of the central area."""
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
        target_xy = centre + rng.uniform(-0.2, 0.2, size=2) * np.array([w, d]) - direction * rng.uniform(0, 0.1) * w
        rot = look_at(np.array([xy[0], xy[1], height]), np.array([target_xy[0], target_xy[1], 0.0]))
        hfov = np.deg2rad(rng.uniform(*hfov_range_deg))
        fx = (image_size[0] / 2) / np.tan(hfov / 2)
        k_mat = np.array([[fx, 0, image_size[0] / 2], [0, fx, image_size[1] / 2], [0, 0, 1.0]])
        cams.append(PinholeCamera(first_id + k, k_mat, rot, np.array([xy[0], xy[1], height]), image_size))
    return cams
