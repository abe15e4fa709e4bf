"""One camera's tracking stage: detections -> local tracks -> Observations with floor positions.

Every backend ends its perception here. The CPU and replay backends run mcpt's single-camera
tracker (``track``) and then ``observe``; the DeepStream backend, whose nvtracker already gave
each box its local id, calls ``observe`` only. So the floor position of a box is computed in one
place whatever produced it.
"""

from __future__ import annotations

import numpy as np

from mcpt.config import AssociationConfig
from mcpt.observation import ObservationBatch
from mcpt.pose.foot import PoseFoot
from mcpt.scene.calibration import Calibration
from mcpt.timebase import DEFAULT_FPS
from mcpt.tracking.sct import SCTOutput, SingleCameraTracker

TRACKED_ONLY = -0.1  # the score of a box carried by the tracker, not detected (DeepStream's NvDsObjectMeta value)


class CameraTracking:
    def __init__(
        self,
        camera_id: int,
        calib: Calibration,
        cfg: AssociationConfig,
        image_size: tuple[int, int],
        fps: float = DEFAULT_FPS,
        with_tracker: bool = True,
        detect_every: int = 1,
    ) -> None:
        self.camera_id = camera_id
        self.calib = calib
        self.image_size = image_size
        self.position = cfg.position
        self.pose_foot = PoseFoot(cfg.pose) if cfg.pose.foot else None
        self.tracker = (
            SingleCameraTracker(
                cfg.sct, image_size, use_appearance=cfg.use_appearance, fps=fps, detect_every=detect_every
            )
            if with_tracker
            else None
        )

    def track(self, step: int, boxes: np.ndarray, scores: np.ndarray, feats: np.ndarray) -> SCTOutput:
        """Detections of this camera at processing step ``step`` -> local track ids and filtered boxes."""
        return self._own_tracker().update(step, boxes, scores, feats)

    def _own_tracker(self) -> SingleCameraTracker:
        if self.tracker is None:
            raise RuntimeError(f"camera {self.camera_id}: this stage takes its track ids from an external tracker")
        return self.tracker

    def coast(self, scene: str, step: int, frame_id: int, timestamp: float) -> ObservationBatch:
        """A frame without detections: the confirmed local tracks where their motion puts them, scored
        -0.1 as DeepStream scores objects its tracker carries between detections (not detected: no
        cross-camera cluster starts from them and no appearance is learnt from them; they keep their
        identity through their local track's binding)."""
        ids, boxes, feats = self._own_tracker().coast()
        return self.observe(scene, step, frame_id, timestamp, ids, boxes, np.full(len(ids), TRACKED_ONLY), feats)

    def observe(
        self,
        scene: str,
        step: int,
        frame_id: int,
        timestamp: float,
        local_ids: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        feats: np.ndarray,
        keypoints: np.ndarray | None = None,
    ) -> ObservationBatch:
        """Tracked boxes (x y w h, source pixels) of one source frame -> Observations with floor positions.

        ``keypoints`` (N, 17, 3) in source pixels where a pose model ran (mcpt.pose.keypoints)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        feats = np.asarray(feats, np.float32)
        if feats.ndim != 2:
            feats = feats.reshape(n, -1) if n else np.zeros((0, 1), np.float32)
        p = self.position
        foot_y = stature = None
        if keypoints is not None:
            keypoints = np.asarray(keypoints, np.float32).reshape(n, 17, 3)
            if self.pose_foot is not None:
                est = self.pose_foot.estimate(keypoints, boxes, self.image_size[1])
                foot_y, stature = est.foot_y, est.stature_px
        world, std = self.calib.standing_points(
            boxes, self.image_size[1], p.foot_offset_m, p.vertical_axis, foot_y, stature
        )
        return ObservationBatch(
            scene=scene,
            step=step,
            time_s=timestamp,
            camera_id=np.full(n, self.camera_id, np.int64),
            frame_id=np.full(n, frame_id, np.int64),
            timestamp=np.full(n, timestamp),
            local_track_id=np.asarray(local_ids, np.int64).reshape(-1),
            bbox=boxes,
            score=np.asarray(scores, np.float64).reshape(-1),
            embedding=feats,
            world_xy=world,
            world_std=std,
            keypoints=keypoints,
        )

    def __call__(
        self,
        scene: str,
        step: int,
        frame_id: int,
        timestamp: float,
        boxes: np.ndarray,
        scores: np.ndarray,
        feats: np.ndarray,
        keypoints: np.ndarray | None = None,
    ) -> tuple[ObservationBatch, np.ndarray]:
        """``track`` then ``observe``; also returns which detections became observations."""
        out = self.track(step, boxes, scores, feats)
        keep = np.flatnonzero(out.track_id >= 0)
        kp = None if keypoints is None else keypoints[keep]
        batch = self.observe(
            scene, step, frame_id, timestamp, out.track_id[keep], out.box[keep], scores[keep], feats[keep], kp
        )
        return batch, keep
