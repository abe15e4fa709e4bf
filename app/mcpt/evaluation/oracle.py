"""Ceilings for a scene with ground truth: perfect identities, positions from the calibrations.

A tracker that never confuses anyone still places people where the cameras' calibrations say. Two
ceilings separate that from association errors: every true detection with its person's true id
and (``own``) its own camera's standing point, or (``fused``) the mean of the standing points of
every camera seeing that person in that frame. Used by the association benchmark.
"""

from __future__ import annotations

import numpy as np

from mcpt.backends.replay import load_perception
from mcpt.config import PositionConfig
from mcpt.scene.layout import SceneDir
from mcpt.scene.results import Rows

ORACLES = ("own", "fused")


def oracle_rows(scene: SceneDir, kind: str, position: PositionConfig | None = None) -> Rows:
    """Rows of the detections of real people (``gt_id`` >= 1), with true ids and calibrated positions."""
    if kind not in ORACLES:
        raise ValueError(f"unknown oracle {kind!r}; expected one of {', '.join(ORACLES)}")
    p = position or PositionConfig()
    parts = []
    for cam in scene.cameras:
        per = load_perception(cam.perception_file(), cam.camera_id)
        if per.gt_id is None:
            raise ValueError(f"{cam.perception_file()}: no gt_id, no oracle")
        real = per.gt_id >= 1
        calib = cam.calibration()
        world, _ = calib.standing_points(per.bbox[real], per.image_size[1], p.foot_offset_m, p.vertical_axis)
        n = int(real.sum())
        parts.append(
            Rows(
                np.full(n, cam.camera_id, np.int64),
                per.gt_id[real].astype(np.int64),
                per.frame_id[real].astype(np.int64),
                per.bbox[real].astype(np.float64),
                world.astype(np.float64),
            )
        )
    rows = Rows.concat(parts)
    if kind == "fused" and len(rows):
        key = rows.frame * (int(rows.obj.max()) + 1) + rows.obj
        _, group = np.unique(key, return_inverse=True)
        ok = np.all(np.isfinite(rows.world), axis=1)
        sums = np.zeros((group.max() + 1, 2))
        counts = np.zeros(group.max() + 1)
        np.add.at(sums, group[ok], rows.world[ok])
        np.add.at(counts, group[ok], 1)
        mean = sums / np.maximum(counts, 1)[:, None]
        rows = Rows(rows.camera, rows.obj, rows.frame, rows.box, np.where(counts[group, None] > 0, mean[group], np.nan))
    return rows.select(np.all(np.isfinite(rows.world), axis=1)).sorted()
