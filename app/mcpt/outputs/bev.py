"""Bird's-eye view: the floor plan with each camera's footprint and each person's trail, as PNG or video.

The same drawing serves three pictures: the final PNG (whole trails, time range), the per-step
MP4 and the live tile of the tiled video (the last seconds of each trail, fading with age).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.outputs.colors import BGR, blend, id_color
from mcpt.outputs.encoder import open_video_writer
from mcpt.outputs.floorplot import PLOT_BG, SUBPIXEL, FloorPlot, LegendItem
from mcpt.outputs.footprint import Footprint, camera_footprint
from mcpt.outputs.labels import Box, around_point, draw_tag, place, tag_size
from mcpt.outputs.trails import Trails
from mcpt.scene.calibration import Calibration
from mcpt.timebase import DEFAULT_FPS

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv")
PICTURE_SUFFIXES = (".png", ".jpg")
DEFAULT_IMAGE_SIZE = (1920, 1080)
MIN_ALPHA = 0.12  # the oldest part of a fading trail, still visible


def _legend(trail_s: float | None, max_gap_s: float) -> list[LegendItem]:
    if trail_s is None:
        dot = LegendItem("dot", "last position (id)", "last seen")
        trail = LegendItem("line", f"trail (broken where unseen > {max_gap_s:g} s)", "trail")
    else:
        dot = LegendItem("dot", "person now (id)", "now")
        trail = LegendItem("fading", f"trail, last {trail_s:g} s", f"last {trail_s:g} s")
    return [dot, trail, LegendItem("view", "camera view", "camera view")]


def _canvas_size(lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
    """A canvas around 1400x950 whose plot area has the extent's aspect (even sides, for video)."""
    span = np.maximum(hi - lo, 1.0)
    s = min(1280 / span[0], 830 / span[1])
    w, h = max(int(span[0] * s) + 120, 640), max(int(span[1] * s) + 120, 400)
    return w + w % 2, h + h % 2


def _with_cameras(lo: np.ndarray, hi: np.ndarray, footprints: list[Footprint], near_m: float = 3.0):
    """The extent grown to take in the cameras standing within ``near_m`` of it.

    A camera high up and far back would leave most of the plan empty; its view is labelled instead.
    """
    near = [
        fp.camera + d  # room for the camera's mark around it
        for fp in footprints
        if fp.camera is not None and np.all(fp.camera >= lo - near_m) and np.all(fp.camera <= hi + near_m)
        for d in (-0.7, 0.7)
    ]
    return _bbox([lo, hi, *near], 0.0)


def _bbox(points: list[np.ndarray], margin: float) -> tuple[np.ndarray, np.ndarray]:
    pts = np.concatenate([p.reshape(-1, 2) for p in points]) if points else np.zeros((0, 2))
    if not len(pts):
        return np.array([-5.0, -5.0]), np.array([5.0, 5.0])
    return pts.min(axis=0) - margin, pts.max(axis=0) + margin


class BirdsEyeView:
    """Floor positions of confirmed global ids, step by step; draws them live and as a whole.

    ``path`` None keeps the data for live rendering only (the tiled video's free tile).
    """

    def __init__(
        self,
        path: str | Path | None,
        calibrations: dict[int, Calibration],
        sizes: dict[int, tuple[int, int]],
        fps: float = DEFAULT_FPS,
        *,
        trail_s: float = 5.0,
        max_gap_s: float = 1.0,
        max_jump_m: float = 2.0,
        reach_m: float = 8.0,
    ) -> None:
        self.path = None if path is None else Path(path)
        suffix = self.path.suffix.lower() if self.path is not None else ""
        if self.path is not None and suffix not in VIDEO_SUFFIXES + PICTURE_SUFFIXES:
            raise InputError(
                self.path, "expected a .png (final picture) or .mp4 (one frame per step) name", field="--bev"
            )
        self.video = suffix in VIDEO_SUFFIXES
        self.footprints = []
        for cid, calib in sorted(calibrations.items()):
            fp = camera_footprint(cid, calib, sizes.get(cid, DEFAULT_IMAGE_SIZE), reach_m)
            if fp is not None:
                self.footprints.append(fp)
        # the live views need their extent before anyone is seen: the cameras' footprints
        self.lo, self.hi = _with_cameras(*_bbox([fp.polygon for fp in self.footprints], 0.5), self.footprints)
        self.size = _canvas_size(self.lo, self.hi)
        self.trail_s = trail_s
        self.max_gap_s = max_gap_s
        self.trails = Trails(max_gap_s, max_jump_m)
        self.now: dict[int, np.ndarray] = {}  # ids seen at the latest step -> floor position
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None
        self._plots: dict[tuple[int, int], FloorPlot] = {}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def update(self, gids: np.ndarray, positions: np.ndarray, time_s: float) -> None:
        """One step: the global ids and floor positions of its rows, at stream time ``time_s``."""
        self.now = {}
        for g, p in zip(np.asarray(gids).tolist(), np.asarray(positions, np.float64).reshape(-1, 2), strict=True):
            if g >= 0 and np.all(np.isfinite(p)):
                self.now[g] = p  # rows of one id share the fused position: keep one
        for g, p in self.now.items():
            self.trails.add(time_s, g, p)
        self.t_first = time_s if self.t_first is None else self.t_first
        self.t_last = time_s
        if self.video:
            frame = self.render(self.size)
            if self.writer is None:
                self.writer = open_video_writer(self.path, self.fps, self.size, field="--bev")
            self.writer.write(frame)

    # -- drawing ---------------------------------------------------------------------------------
    def render(self, size: tuple[int, int]) -> np.ndarray:
        """The live view at the latest step, ``size`` = (width, height): the last ``trail_s`` of each trail."""
        plot = self._plots.get(size)
        if plot is None:
            legend = _legend(self.trail_s, self.max_gap_s)
            plot = self._plots[size] = FloorPlot(self.lo, self.hi, size, self.footprints, legend)
        img = plot.canvas()
        view = plot.view(img)
        t = self.t_last if self.t_last is not None else 0.0
        since = t - self.trail_s
        for gid in self.trails.ids():
            if self.trails.last_seen(gid) >= since:
                for piece in self.trails.pieces(gid, since):
                    self._fading(view, plot, piece, id_color(gid), t)
        self._dots(view, plot, self.now)
        plot.title(img, f"bird's-eye view   t = {t:.1f} s", f"t = {t:.1f} s")
        return img

    def picture_plot(self) -> FloorPlot:
        """The plan of the whole-run picture: around where people were (and the cameras), not all views."""
        pts = self.trails.points()
        if len(pts):
            # percentiles: one stray far position should not shrink everyone else
            lo = np.percentile(pts, 0.5, axis=0)
            hi = np.percentile(pts, 99.5, axis=0)
            lo, hi = _bbox([lo, hi, *(fp.anchor for fp in self.footprints)], 1.5)
            lo, hi = _with_cameras(lo, hi, self.footprints)
        else:
            lo, hi = self.lo, self.hi
        return FloorPlot(lo, hi, _canvas_size(lo, hi), self.footprints, _legend(None, self.max_gap_s))

    def picture(self) -> np.ndarray:
        """The whole run: every trail in full, each id's last position, the time range."""
        plot = self.picture_plot()
        img = plot.canvas()
        view = plot.view(img)
        last = {}
        for gid in self.trails.ids():
            colour = id_color(gid)
            pieces = self.trails.pieces(gid)
            for piece in pieces:
                p = plot.fixed(plot.px(piece[:, 1:]))
                if len(p) >= 2:
                    cv2.polylines(view, [p], False, colour, plot.line, cv2.LINE_AA, SUBPIXEL)
                else:
                    cv2.circle(view, tuple(p[0]), plot.line << SUBPIXEL, colour, -1, cv2.LINE_AA, SUBPIXEL)
            last[gid] = pieces[-1][-1, 1:]
        self._dots(view, plot, last)
        a = self.t_first or 0.0
        b = self.t_last or 0.0
        ids = f"{len(last)} id{'s' * (len(last) != 1)}"
        plot.title(img, f"bird's-eye view   {ids}   t = {a:.1f}-{b:.1f} s", f"t = {a:.1f}-{b:.1f} s")
        return img

    def _fading(self, view: np.ndarray, plot: FloorPlot, piece: np.ndarray, colour: BGR, t: float) -> None:
        """One trail piece, each segment paler the older it is (gone after ``trail_s``)."""
        p = plot.fixed(plot.px(piece[:, 1:]))
        if len(p) == 1:
            a = max(MIN_ALPHA, 1 - (t - piece[0, 0]) / self.trail_s)
            cv2.circle(view, tuple(p[0]), plot.line << SUBPIXEL, blend(colour, PLOT_BG, a), -1, cv2.LINE_AA, SUBPIXEL)
            return
        ages = t - (piece[:-1, 0] + piece[1:, 0]) / 2
        alphas = np.clip(1 - ages / self.trail_s, MIN_ALPHA, 1.0)
        for a, q0, q1 in zip(alphas, p[:-1], p[1:], strict=True):
            c = blend(colour, PLOT_BG, float(a))
            cv2.line(view, tuple(q0), tuple(q1), c, plot.line, cv2.LINE_AA, SUBPIXEL)

    @staticmethod
    def _dots(view: np.ndarray, plot: FloorPlot, points: dict[int, np.ndarray]) -> None:
        """A dot per id and its id on a tag of its colour, tags placed clear of each other and of the dots."""
        r = plot.line + 3
        items = sorted(points.items())
        centres = [plot.px(p) for _, p in items]
        dot_boxes: list[Box] = []
        for (gid, _), c in zip(items, centres, strict=True):
            q = tuple(plot.fixed(c))
            cv2.circle(view, q, r << SUBPIXEL, id_color(gid), -1, cv2.LINE_AA, SUBPIXEL)
            cv2.circle(view, q, r << SUBPIXEL, (255, 255, 255), 1, cv2.LINE_AA, SUBPIXEL)
            dot_boxes.append((int(c[0]) - r, int(c[1]) - r, int(c[0]) + r + 1, int(c[1]) + r + 1))
        bounds = plot.bounds
        shown = [
            (gid, c)
            for (gid, _), c in zip(items, centres, strict=True)
            if 0 <= c[0] < bounds[2] and 0 <= c[1] < bounds[3]
        ]
        fs = plot.fs
        gap = r + 2
        cands = [around_point(c[0], c[1], tag_size(str(gid), fs), gap) for gid, c in shown]
        for (gid, c), box in zip(shown, place(cands, bounds, plot.occupied + dot_boxes), strict=True):
            # a tag pushed away from its dot by the crowd gets a leader line back to it
            near = np.clip(c, box[:2], np.array(box[2:]) - 1)
            if np.linalg.norm(near - c) > gap * 1.5 + 1:
                cv2.line(view, tuple(plot.fixed(c)), tuple(plot.fixed(near)), id_color(gid), 1, cv2.LINE_AA, SUBPIXEL)
            draw_tag(view, box, str(gid), id_color(gid), fs)

    def close(self) -> None:
        if self.path is None:
            return
        if self.video:
            if self.writer is not None:
                self.writer.release()
            return
        if not cv2.imwrite(str(self.path), self.picture()):
            raise InputError(self.path, "cannot write this picture; try another folder or a .png name", field="--bev")
