"""What every perception backend does last: tracked boxes of one camera -> Observations."""

from __future__ import annotations

import numpy as np

from mcpt.config import PositionConfig
from mcpt.observation import ObservationBatch
from mcpt.scene.calibration import Calibration


def camera_observations(
    scene: str,
    frame_id: int,
    timestamp: float,
    camera_id: int,
    calib: Calibration,
    image_height: int,
    position: PositionConfig,
    local_ids: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    feats: np.ndarray,
) -> ObservationBatch:
    """One camera's tracked boxes (x y w h in source pixels) with their floor positions and uncertainty."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 2:
        feats = feats.reshape(len(boxes), -1) if len(boxes) else np.zeros((0, 1), np.float32)
    world, std = calib.standing_points(boxes, image_height, position.foot_offset_m, position.vertical_axis)
    return ObservationBatch(
        scene=scene,
        frame_id=frame_id,
        timestamp=timestamp,
        camera_id=np.full(len(boxes), camera_id, np.int64),
        local_track_id=np.asarray(local_ids, np.int64).reshape(-1),
        bbox=boxes,
        score=np.asarray(scores, np.float64).reshape(-1),
        embedding=feats,
        world_xy=world,
        world_std=std,
    )
