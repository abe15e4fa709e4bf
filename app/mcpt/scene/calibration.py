"""calibration.json: the camera projection matrix (3x4) and ground-plane homography (3x3)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt.geometry import (
    DEFAULT_FOOT_OFFSET_M,
    apply_homography,
    image_grid,
    projection_homography_error,
    standing_points,
)

log = logging.getLogger(__name__)

HOMOGRAPHY_KEY = "homography matrix"
PROJECTION_KEY = "camera projection matrix"
# Pixels of median disagreement between the two matrices above which we warn.
CONSISTENCY_TOLERANCE_PX = 3.0
# Above this condition number the homography is numerically singular.
MAX_CONDITION = 1e12
MIN_FLOOR_SPAN_M = 0.01


@dataclass(frozen=True)
class Calibration:
    """One camera's calibration. ``homography`` maps world floor (x, y, 1) to image pixels."""

    camera_id: int
    homography: np.ndarray
    homography_inv: np.ndarray
    projection: np.ndarray | None
    # Sign of the homogeneous scale of image->world for points in front of the camera.
    front_sign: float
    source: str = ""

    def image_to_world(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) floor metres; NaN for pixels on or above the horizon."""
        return apply_homography(self.homography_inv, pixels, self.front_sign)

    def standing_points(
        self,
        boxes: np.ndarray,
        image_height: int,
        foot_offset_m: float = DEFAULT_FOOT_OFFSET_M,
        vertical_axis: bool = True,
        foot_y: np.ndarray | None = None,
        stature_px: np.ndarray | None = None,
    ):
        """Floor positions and their std (metres) of boxed people seen by this camera (``foot_y``: feet
        rows extrapolated from the pose, see geometry.standing_points)."""
        projection = self.projection if vertical_axis else None
        return standing_points(
            boxes, self.homography_inv, self.front_sign, image_height, projection, foot_offset_m, foot_y, stature_px
        )

    def world_to_image(self, world_xy: np.ndarray) -> np.ndarray:
        return apply_homography(self.homography, world_xy)

    def to_json(self) -> dict:
        out = {HOMOGRAPHY_KEY: self.homography.tolist()}
        if self.projection is not None:
            out[PROJECTION_KEY] = self.projection.tolist()
        return out

    def for_image(self, image_size: tuple[int, int]) -> Calibration:
        """The same calibration with the floor side of the horizon taken from the real image size."""
        return replace(self, front_sign=_front_sign(self.homography_inv, image_size))

    def check_visible_floor(self, image_size: tuple[int, int], min_fraction: float = 0.2) -> None:
        """Reject a calibration that maps most of the image off the floor plane (degenerate plane)."""
        world = self.image_to_world(image_grid(*image_size))
        finite = np.all(np.isfinite(world), axis=1)
        if finite.mean() < min_fraction:
            raise InputError(
                self.source,
                f"only {100 * finite.mean():.0f}% of a {image_size[0]}x{image_size[1]} image maps onto the "
                "ground plane; expected a camera looking down at the floor (check the homography)",
                field=HOMOGRAPHY_KEY,
            )
        span = np.ptp(world[finite], axis=0) if finite.sum() > 1 else np.zeros(2)
        # A real camera's view spans centimetres at least; less means a rank-deficient or mis-scaled matrix.
        if not np.all(span > MIN_FLOOR_SPAN_M):
            raise InputError(
                self.source,
                "the image maps onto a line or a point of the ground plane; expected a 2-D floor area",
                field=HOMOGRAPHY_KEY,
            )


def _matrix(data: dict, key: str, shape: tuple[int, int], source: Path) -> np.ndarray:
    if key not in data:
        raise InputError(source, f"missing key; expected a {shape[0]}x{shape[1]} matrix", field=key)
    try:
        m = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(source, f"expected a {shape[0]}x{shape[1]} matrix of numbers", field=key) from None
    if m.shape != shape:
        raise InputError(
            source, f"expected a {shape[0]}x{shape[1]} matrix, got shape {'x'.join(map(str, m.shape))}", field=key
        )
    if not np.all(np.isfinite(m)):
        raise InputError(source, "matrix holds NaN or infinite values", field=key)
    return m


def _front_sign(h_inv: np.ndarray, image_size: tuple[int, int]) -> float:
    """Sign of the homogeneous scale of image->world for points on the visible floor.

    A homography is defined up to scale (and sign), so we anchor the sign on the bottom-centre
    pixel of the image, which lies on the floor for any camera looking down at it.
    """
    width, height = image_size
    bottom = h_inv @ np.array([0.5 * width, height - 1.0, 1.0])
    return float(np.sign(bottom[2])) or 1.0


def calibration_from_matrices(
    camera_id: int,
    homography: np.ndarray,
    projection: np.ndarray | None = None,
    source: str = "",
    image_size: tuple[int, int] = (1920, 1080),
) -> Calibration:
    cond = np.linalg.cond(homography)
    if not np.isfinite(cond) or cond > MAX_CONDITION:
        raise InputError(
            source, "homography is singular (not invertible); expected a full-rank 3x3 matrix", field=HOMOGRAPHY_KEY
        )
    h_inv = np.linalg.inv(homography)
    return Calibration(
        camera_id=camera_id,
        homography=homography,
        homography_inv=h_inv,
        projection=projection,
        front_sign=_front_sign(h_inv, image_size),
        source=source,
    )


def load_calibration(
    path: str | Path,
    camera_id: int,
    *,
    require_projection: bool = False,
    image_size: tuple[int, int] | None = None,
) -> Calibration:
    """Read and validate one camera's calibration.json.

    The homography is required; the projection matrix is checked when present (and required
    with ``require_projection``). When both are present and disagree, a warning names the camera.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "calibration file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e.msg} at line {e.lineno})", line=e.lineno) from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object with the calibration matrices")
    homography = _matrix(data, HOMOGRAPHY_KEY, (3, 3), path)
    projection = None
    if PROJECTION_KEY in data or require_projection:
        projection = _matrix(data, PROJECTION_KEY, (3, 4), path)
    size = image_size or (1920, 1080)
    calib = calibration_from_matrices(camera_id, homography, projection, str(path), size)
    if projection is not None:
        err = projection_homography_error(projection, homography, size)
        if not err <= CONSISTENCY_TOLERANCE_PX:
            log.warning(
                "camera %s: projection matrix and homography disagree by %.1f px (median) in %s; "
                "world positions use the homography",
                camera_id,
                err,
                path,
            )
    if image_size is not None:
        calib.check_visible_floor(image_size)
    return calib


def write_calibration(path: str | Path, calib: Calibration) -> None:
    Path(path).write_text(json.dumps(calib.to_json(), indent=2))
