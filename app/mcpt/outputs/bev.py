"""Bird's-eye view: the floor plan with each camera's view and each person's trail, as PNG or video."""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.geometry import image_grid
from mcpt.outputs.colors import id_color
from mcpt.scene.calibration import Calibration
from mcpt.timebase import DEFAULT_FPS


def view_polygon(calib: Calibration, size: tuple[int, int], reach_m: float = 40.0) -> np.ndarray:
    """The floor area a camera sees (its image border mapped to the floor), clipped to ``reach_m``."""
    w, h = size
    border = np.concatenate(
        [
            np.stack([np.linspace(0, w, 20), np.full(20, h)], 1),
            np.stack([np.full(20, w), np.linspace(h, 0, 20)], 1),
            np.stack([np.linspace(w, 0, 20), np.zeros(20)], 1),
            np.stack([np.zeros(20), np.linspace(0, h, 20)], 1),
        ]
    )
    pts = calib.image_to_world(border)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts):
        centre = np.median(calib.image_to_world(image_grid(w, h, 6)), axis=0)
        d = pts - centre
        n = np.linalg.norm(d, axis=1, keepdims=True)
        pts = np.where(n > reach_m, centre + d / np.maximum(n, 1e-9) * reach_m, pts)
    return pts


class BirdsEyeView:
    def __init__(
        self,
        path: str | Path,
        calibrations: dict[int, Calibration],
        sizes: dict[int, tuple[int, int]],
        fps: float = DEFAULT_FPS,
        trail: int = 50,
        px_per_m: float = 40.0,
    ) -> None:
        self.path = Path(path)
        self.video = self.path.suffix.lower() in (".mp4", ".avi", ".mkv")
        if self.path.suffix.lower() not in (".png", ".jpg", ".mp4", ".avi", ".mkv"):
            raise InputError(
                self.path, "expected a .png (final picture) or .mp4 (one frame per step) name", field="--bev"
            )
        self.polys = {cid: view_polygon(c, sizes.get(cid, (1920, 1080))) for cid, c in calibrations.items()}
        allpts = np.concatenate([p for p in self.polys.values() if len(p)] or [np.zeros((1, 2))])
        self.lo = allpts.min(axis=0) - 1.0
        self.hi = allpts.max(axis=0) + 1.0
        span = self.hi - self.lo
        self.scale = min(px_per_m, 1600 / max(span[0], 1e-6), 1200 / max(span[1], 1e-6))
        self.size = (int(span[0] * self.scale) + 1, int(span[1] * self.scale) + 1)
        self.trails: dict[int, deque] = defaultdict(lambda: deque(maxlen=trail))
        self.history: dict[int, list] = defaultdict(list)
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _px(self, xy: np.ndarray) -> np.ndarray:
        p = (np.asarray(xy, np.float64) - self.lo) * self.scale
        p[..., 1] = self.size[1] - p[..., 1]  # y up on the floor plan
        return p.astype(np.int32)

    def _base(self) -> np.ndarray:
        img = np.full((self.size[1], self.size[0], 3), 245, np.uint8)
        step = 1.0 if self.scale >= 20 else 5.0
        for x in np.arange(np.ceil(self.lo[0]), self.hi[0], step):
            a, b = self._px(np.array([[x, self.lo[1]], [x, self.hi[1]]]))
            cv2.line(img, tuple(a), tuple(b), (225, 225, 225), 1)
        for y in np.arange(np.ceil(self.lo[1]), self.hi[1], step):
            a, b = self._px(np.array([[self.lo[0], y], [self.hi[0], y]]))
            cv2.line(img, tuple(a), tuple(b), (225, 225, 225), 1)
        for cid, poly in self.polys.items():
            if len(poly) >= 3:
                cv2.polylines(img, [self._px(poly)], True, (180, 180, 180), 1, cv2.LINE_AA)
                c = self._px(poly.mean(axis=0, keepdims=True))[0]
                cv2.putText(img, f"cam {cid}", tuple(c), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (150, 150, 150), 1)
        return img

    def update(self, gids: np.ndarray, positions: np.ndarray, time_s: float) -> None:
        """One step: the global ids and floor positions of its rows, at stream time ``time_s``."""
        seen = {}
        for g, p in zip(gids.tolist(), positions, strict=True):
            if g >= 0 and np.all(np.isfinite(p)):
                seen[g] = p
        for g, p in seen.items():
            self.trails[g].append(p)
            self.history[g].append(p)
        if self.video:
            img = self._draw(self.trails, current=seen)
            cv2.putText(img, f"t = {time_s:.1f} s", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (60, 60, 60), 2)
            if self.writer is None:
                self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            self.writer.write(img)

    def _draw(self, trails, current) -> np.ndarray:
        img = self._base()
        for g, pts in trails.items():
            if len(pts) >= 2:
                cv2.polylines(img, [self._px(np.array(pts))], False, id_color(g), 2, cv2.LINE_AA)
        for g, p in current.items():
            c = tuple(self._px(np.array(p)[None])[0])
            cv2.circle(img, c, 6, id_color(g), -1, cv2.LINE_AA)
            cv2.putText(img, str(g), (c[0] + 7, c[1] - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, id_color(g), 2)
        return img

    def close(self) -> None:
        if self.video:
            if self.writer is not None:
                self.writer.release()
            return
        last = {g: pts[-1] for g, pts in self.history.items() if pts}
        cv2.imwrite(str(self.path), self._draw(self.history, last))
