"""A tiled video of all cameras with boxes coloured and labelled by global id."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.outputs.colors import id_color


class TiledVideoWriter:
    def __init__(self, path: str | Path, camera_ids: list[int], fps: float, tile_width: int = 640) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cameras = sorted(camera_ids)
        self.cols = max(1, math.ceil(math.sqrt(len(self.cameras))))
        self.rows = max(1, math.ceil(len(self.cameras) / self.cols))
        self.tile_w = tile_width
        self.tile_h = tile_width * 9 // 16
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    def _open(self) -> cv2.VideoWriter:
        size = (self.cols * self.tile_w, self.rows * self.tile_h)
        w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        if not w.isOpened():
            raise InputError(self.path, "cannot write this video (OpenCV/FFmpeg mp4v); try another folder or .mp4 name")
        return w

    def write(
        self,
        frames: dict[int, np.ndarray],
        camera: np.ndarray,
        boxes: np.ndarray,
        gids: np.ndarray,
        frame_ids: dict[int, int],
    ) -> None:
        """One step: each camera's image (by camera id) and source frame number, and the step's boxes."""
        if self.writer is None:
            self.writer = self._open()
        canvas = np.zeros((self.rows * self.tile_h, self.cols * self.tile_w, 3), np.uint8)
        for k, cid in enumerate(self.cameras):
            r, c = divmod(k, self.cols)
            tile = canvas[r * self.tile_h : (r + 1) * self.tile_h, c * self.tile_w : (c + 1) * self.tile_w]
            img = frames.get(cid)
            if img is None:
                cv2.putText(
                    tile,
                    f"camera {cid}: no frame",
                    (12, self.tile_h // 2),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.7,
                    (0, 0, 255),
                    2,
                    cv2.LINE_AA,
                )
                continue
            h, w = img.shape[:2]
            s = min(self.tile_w / w, self.tile_h / h)
            nw, nh = int(w * s), int(h * s)
            tile[:nh, :nw] = cv2.resize(img, (nw, nh))
            for box, gid in zip(boxes[camera == cid], gids[camera == cid], strict=True):
                x, y, bw, bh = (box * s).astype(int)
                col = id_color(int(gid))
                cv2.rectangle(tile, (x, y), (x + bw, y + bh), col, 2)
                label = str(int(gid)) if gid >= 0 else "?"
                cv2.putText(tile, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 2, cv2.LINE_AA)
            cv2.putText(
                tile,
                f"cam {cid}  frame {frame_ids.get(cid, '?')}",
                (8, 20),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.55,
                (255, 255, 255),
                2,
                cv2.LINE_AA,
            )
        self.writer.write(canvas)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
