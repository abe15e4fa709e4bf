"""A tiled video of all cameras with boxes coloured and labelled by global id.

Each tile is titled with its camera and source frame; a grid cell left free by the cameras
shows whatever the caller passes (the live bird's-eye view); a strip below says what the
box colours mean and the stream time.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from mcpt.outputs.colors import BGR, UNCONFIRMED, id_color, palette
from mcpt.outputs.encoder import open_video_writer
from mcpt.outputs.labels import FONT, Box, draw_tag, place, tag_size, text_size
from mcpt.pose.keypoints import SKELETON

DARK: BGR = (32, 32, 32)
LIGHT: BGR = (235, 235, 235)
GREY_MEANS = "grey = not yet confirmed"


def draw_box(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], colour: BGR) -> None:
    """A box with a dark halo, so that it shows on light and dark footage alike."""
    cv2.rectangle(img, p0, p1, DARK, 4)
    cv2.rectangle(img, p0, p1, colour, 2)


def draw_skeleton(
    img: np.ndarray, kp: np.ndarray, scale: float, origin: tuple[int, int], colour: BGR, conf: float = 0.5
) -> None:
    """One person's confident keypoints (source pixels) as limbs and joints, thin, under the box labels."""
    if not np.isfinite(kp[:, 2]).all():
        return  # no pose estimated for this box
    pts = kp[:, :2] * scale + np.asarray(origin)
    seen = kp[:, 2] > conf
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            cv2.line(
                img, tuple(np.round(pts[a]).astype(int)), tuple(np.round(pts[b]).astype(int)), colour, 1, cv2.LINE_AA
            )
    for p in pts[seen]:
        cv2.circle(img, tuple(np.round(p).astype(int)), 2, colour, -1, cv2.LINE_AA)


def _label_candidates(x0: int, y0: int, x1: int, y1: int, size: tuple[int, int]) -> list[Box]:
    """Above the box, else inside its top (a box touching the top edge), else below, else inside its bottom."""
    w, h = size
    return [
        (x0 - 1, y0 - h, x0 - 1 + w, y0),
        (x0 + 1, y0 + 1, x0 + 1 + w, y0 + 1 + h),
        (x0 - 1, y1 + 1, x0 - 1 + w, y1 + 1 + h),
        (x0 + 1, y1 - h, x0 + 1 + w, y1),
    ]


class TiledVideoWriter:
    def __init__(self, path: str | Path, camera_ids: list[int], fps: float, tile_width: int = 640) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cameras = sorted(camera_ids)
        self.cols = max(1, math.ceil(math.sqrt(len(self.cameras))))
        self.rows = max(1, math.ceil(len(self.cameras) / self.cols))
        self.tile_w = tile_width + tile_width % 2
        self.tile_h = (self.tile_w * 9 // 16) // 2 * 2
        self.fps = fps
        self.fs = float(np.clip(0.5 * self.tile_w / 640, 0.4, 0.8))
        th = text_size("0", self.fs)[1]
        self.pad = max(3, th // 3)
        self.legend_h = (th + 6 * self.pad + 1) // 2 * 2
        self.size = (self.cols * self.tile_w, self.rows * self.tile_h + self.legend_h)
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    @property
    def free_tile_size(self) -> tuple[int, int] | None:
        """(width, height) of the first grid cell no camera uses, None when the cameras fill the grid."""
        return (self.tile_w, self.tile_h) if self.rows * self.cols > len(self.cameras) else None

    def _cell(self, canvas: np.ndarray, k: int) -> np.ndarray:
        r, c = divmod(k, self.cols)
        return canvas[r * self.tile_h : (r + 1) * self.tile_h, c * self.tile_w : (c + 1) * self.tile_w]

    def write(
        self,
        frames: dict[int, np.ndarray],
        camera: np.ndarray,
        boxes: np.ndarray,
        gids: np.ndarray,
        frame_ids: dict[int, int],
        time_s: float | None = None,
        extra: np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
    ) -> None:
        """One step: each camera's image and source frame number (by camera id), the step's boxes
        (x y w h, source pixels) with their global ids (-1: not confirmed yet), and optionally the
        stream time, a picture for the free grid cell (resized to ``free_tile_size`` if needed) and
        the boxes' body keypoints (N, 17, 3), drawn as skeletons.
        """
        if self.writer is None:
            self.writer = open_video_writer(self.path, self.fps, self.size, field="--video")
        self.writer.write(self.compose(frames, camera, boxes, gids, frame_ids, time_s, extra, keypoints))
        self.frames += 1

    def compose(
        self,
        frames: dict[int, np.ndarray],
        camera: np.ndarray,
        boxes: np.ndarray,
        gids: np.ndarray,
        frame_ids: dict[int, int],
        time_s: float | None = None,
        extra: np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
    ) -> np.ndarray:
        """The video frame ``write`` writes (arguments as there)."""
        canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        camera = np.asarray(camera)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        gids = np.asarray(gids)
        for k, cid in enumerate(self.cameras):
            mine = camera == cid
            kp = keypoints[mine] if keypoints is not None else None
            self._tile(self._cell(canvas, k), cid, frames.get(cid), frame_ids.get(cid), boxes[mine], gids[mine], kp)
        if self.free_tile_size is not None and extra is not None:
            cell = self._cell(canvas, len(self.cameras))
            if extra.shape[:2] != cell.shape[:2]:
                extra = cv2.resize(extra, (self.tile_w, self.tile_h), interpolation=cv2.INTER_AREA)
            cell[:] = extra
        self._legend(canvas[self.rows * self.tile_h :], time_s)
        return canvas

    def _tile(
        self,
        tile: np.ndarray,
        cid: int,
        img,
        frame: int | None,
        boxes: np.ndarray,
        gids: np.ndarray,
        keypoints: np.ndarray | None = None,
    ) -> None:
        fs, pad = self.fs, self.pad
        title = f"cam {cid}  frame {frame if frame is not None else '-'}"
        tw, th = tag_size(title, fs, pad)
        title_box = (0, 0, tw, th)
        if img is None:
            msg = "no frame"
            mw = text_size(msg, fs)[0]
            cv2.putText(tile, msg, ((self.tile_w - mw) // 2, self.tile_h // 2), FONT, fs, (80, 80, 255), 1, cv2.LINE_AA)
            draw_tag(tile, title_box, title, DARK, fs, pad)
            return
        h, w = img.shape[:2]
        s = min(self.tile_w / w, self.tile_h / h)
        nw, nh = round(w * s), round(h * s)
        ox, oy = (self.tile_w - nw) // 2, (self.tile_h - nh) // 2
        tile[oy : oy + nh, ox : ox + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        # unconfirmed boxes first: confirmed ones are drawn over them and get their labels placed first
        order = np.argsort(gids >= 0, kind="stable")
        if keypoints is not None:
            for i in order:
                draw_skeleton(tile, keypoints[i], s, (ox, oy), id_color(int(gids[i])))
        rects = []
        for i in order:
            x, y, bw, bh = boxes[i] * s + np.array([ox, oy, 0, 0])
            p0, p1 = (round(x), round(y)), (round(x + bw), round(y + bh))
            draw_box(tile, p0, p1, id_color(int(gids[i])))
            rects.append((*p0, *p1))
        texts = [str(int(gids[i])) if gids[i] >= 0 else "?" for i in order]
        # labels go by the part of the box inside the picture (a box may run off its edge)
        seen = [(max(r[0], ox), max(r[1], oy), min(r[2], ox + nw), min(r[3], oy + nh)) for r in rects]
        cands = [_label_candidates(*r, tag_size(t, fs)) for r, t in zip(seen, texts, strict=True)]
        bounds = (0, 0, self.tile_w, self.tile_h)
        placed = place(cands[::-1], bounds, [title_box])[::-1]  # confirmed (drawn last) placed first
        for i, box, text in zip(order, placed, texts, strict=True):
            draw_tag(tile, box, text, id_color(int(gids[i])), fs)
        draw_tag(tile, title_box, title, DARK, fs, pad)

    def _legend(self, strip: np.ndarray, time_s: float | None) -> None:
        """What the box colours mean (and the stream time), on a dark strip under the grid."""
        strip[:] = DARK
        fs, pad = self.fs, self.pad
        th = text_size("0", fs)[1]
        yc = strip.shape[0] // 2
        x = 2 * pad
        for colour, tag, text in ((palette()[0], "7", "coloured box = global id"), (UNCONFIRMED, "?", GREY_MEANS)):
            tw, tagh = tag_size(tag, fs)
            bw = tw + 3 * pad
            draw_box(strip, (x, yc - tagh // 2 - 1), (x + bw, strip.shape[0] - 2), colour)
            draw_tag(strip, (x + 1, yc - tagh // 2, x + 1 + tw, yc - tagh // 2 + tagh), tag, colour, fs)
            x += bw + 2 * pad
            cv2.putText(strip, text, (x, yc + th // 2), FONT, fs, LIGHT, 1, cv2.LINE_AA)
            x += text_size(text, fs)[0] + 6 * pad
        if time_s is not None:
            text = f"t = {time_s:.1f} s"
            tw = text_size(text, fs)[0]
            if strip.shape[1] - 2 * pad - tw > x:
                cv2.putText(strip, text, (strip.shape[1] - 2 * pad - tw, yc + th // 2), FONT, fs, LIGHT, 1, cv2.LINE_AA)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
