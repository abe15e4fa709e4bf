"""INT8 calibration batches from a scene's videos, preprocessed exactly as the runtime feeds each model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.models.detector import letterbox
from mcpt.models.manifest import ModelSpec
from mcpt.scene.layout import discover_scene


def _frames(scene_dir: str | Path, count: int) -> Iterator[np.ndarray]:
    scene = discover_scene(scene_dir)
    videos = [c.video for c in scene.cameras if c.video is not None]
    if not videos:
        raise InputError(scene_dir, "no camera videos to calibrate INT8 with")
    per = max(1, count // len(videos))
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or per
        for k in range(per):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(k * n / per))
            ok, img = cap.read()
            if ok:
                yield img
        cap.release()


def calibration_batches(
    spec: ModelSpec, scene_dir: str | Path | None, count: int, batch: int
) -> tuple[Iterator[np.ndarray], tuple[int, ...]]:
    if scene_dir is None:
        raise InputError(None, "INT8 needs calibration frames: pass --calib-scene SCENE_DIR", field="--calib-scene")
    shape = (batch, 3, spec.height, spec.width)

    def prep(img: np.ndarray) -> list[np.ndarray]:
        if spec.role == "detector":
            x, _ = letterbox(img, spec.width, spec.height)
            return [x[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0]
        # ReID and pose: vertical strips of the frame stand in for person crops
        w = img.shape[1]
        cw = max(8, w // 8)
        if spec.role == "pose":  # letterboxed RGB 0..1, as the pose SGIE (and the CPU path) feed it
            strips = (letterbox(img[:, x : x + cw], spec.width, spec.height)[0] for x in range(0, w - cw + 1, cw))
            return [s[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0 for s in strips]
        return [
            cv2.resize(img[:, x : x + cw], (spec.width, spec.height))[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
            for x in range(0, w - cw + 1, cw)
        ]

    def gen() -> Iterator[np.ndarray]:
        buf: list[np.ndarray] = []
        for img in _frames(scene_dir, count):
            buf.extend(prep(img))
            while len(buf) >= batch:
                yield np.stack(buf[:batch])
                buf = buf[batch:]

    return gen(), shape
