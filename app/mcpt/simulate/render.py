"""Render simulated cameras to video: a tiled floor and simple people whose colours follow identity."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mcpt.geometry import apply_homography
from mcpt.simulate.cameras import PinholeCamera
from mcpt.simulate.perception import CameraFrame
from mcpt.simulate.world import Floor


def identity_colours(n: int, lookalike_of: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 3) BGR colours per identity: shirt, trousers, skin. Look-alikes dress alike."""
    hsv = np.stack([rng.integers(0, 180, n), rng.integers(120, 256, n), rng.integers(90, 256, n)], axis=1)
    shirt = cv2.cvtColor(hsv[None].astype(np.uint8), cv2.COLOR_HSV2BGR)[0].astype(np.int64)
    trousers = rng.integers(20, 160, size=(n, 3))
    skin = np.array([[80, 120, 170], [110, 160, 210], [60, 90, 130]])[rng.integers(0, 3, n)]
    for i, j in enumerate(lookalike_of):
        if j >= 0:
            shirt[i] = np.clip(shirt[j] + rng.integers(-12, 13, 3), 0, 255)
            trousers[i] = np.clip(trousers[j] + rng.integers(-12, 13, 3), 0, 255)
    return np.stack([shirt, trousers, skin], axis=1).astype(np.uint8)


def floor_background(cam: PinholeCamera, floor: Floor) -> np.ndarray:
    """A checkerboard floor (1 m tiles) where the image sees the floor, a wall colour elsewhere."""
    w, h = cam.image_size
    uu, vv = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    h_inv = np.linalg.inv(cam.homography)
    sign = np.sign((h_inv @ np.array([w / 2, h - 1.0, 1.0]))[2]) or 1.0
    world = apply_homography(h_inv, np.stack([uu.ravel(), vv.ravel()], axis=1), sign).reshape(h, w, 2)
    inside = (
        np.isfinite(world).all(axis=2)
        & (world[..., 0] >= 0)
        & (world[..., 0] <= floor.width)
        & (world[..., 1] >= 0)
        & (world[..., 1] <= floor.depth)
    )
    tiles = (np.floor(np.nan_to_num(world[..., 0])) + np.floor(np.nan_to_num(world[..., 1]))) % 2
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (150, 155, 160)
    img[inside & (tiles == 0)] = (185, 190, 190)
    img[inside & (tiles == 1)] = (165, 170, 172)
    return img


def draw_person(img: np.ndarray, box: np.ndarray, colours: np.ndarray) -> None:
    x, y, w, h = (float(v) for v in box)
    shirt, trousers, skin = (tuple(int(c) for c in col) for col in colours)

    def rect(x1: float, y1: float, x2: float, y2: float, col: tuple[int, ...]) -> None:
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), col, thickness=-1, lineType=cv2.LINE_AA)

    rect(x + 0.3 * w, y + 0.55 * h, x + 0.48 * w, y + h, trousers)
    rect(x + 0.52 * w, y + 0.55 * h, x + 0.7 * w, y + h, trousers)
    rect(x + 0.18 * w, y + 0.17 * h, x + 0.82 * w, y + 0.58 * h, shirt)
    rect(x + 0.05 * w, y + 0.2 * h, x + 0.18 * w, y + 0.52 * h, shirt)
    rect(x + 0.82 * w, y + 0.2 * h, x + 0.95 * w, y + 0.52 * h, shirt)
    r = max(1, int(0.085 * h))
    cv2.circle(img, (int(x + w / 2), int(y + 0.085 * h)), r, skin, thickness=-1, lineType=cv2.LINE_AA)


class CameraVideo:
    def __init__(self, path: Path, cam: PinholeCamera, floor: Floor, colours: np.ndarray, fps: float) -> None:
        self.background = floor_background(cam, floor)
        self.colours = colours
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, cam.image_size)
        if not self.writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {path} (mp4v); is FFmpeg support missing?")

    def write(self, frame: CameraFrame) -> None:
        img = self.background.copy()
        for ident, box in zip(frame.draw_ids, frame.draw_box, strict=True):
            draw_person(img, box, self.colours[ident])
        self.writer.write(img)

    def close(self) -> None:
        self.writer.release()
