"""The metric floor plan a bird's-eye view draws on: axes in metres, a scale bar, camera footprints, a legend.

A ``FloorPlot`` is one canvas size; everything that does not change from step to step is drawn
once into its base image. Data are drawn on ``view(img)``, the plot area alone, in the
coordinates ``px`` gives, so anything off the floor area is clipped by OpenCV for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mcpt.outputs.colors import BGR, blend, palette
from mcpt.outputs.footprint import Footprint
from mcpt.outputs.labels import FONT, Box, around_point, draw_tag, place, tag_size, text_size

PLOT_BG: BGR = (252, 252, 252)
MARGIN_BG: BGR = (238, 238, 238)
GRID: BGR = (226, 226, 226)
AXIS: BGR = (110, 110, 110)
TEXT: BGR = (50, 50, 50)
VIEW: BGR = (190, 140, 80)  # camera footprints: a steel blue, drawn faint
VIEW_ALPHA = 0.09
SUBPIXEL = 3  # OpenCV fixed-point bits: smooth anti-aliased lines at fractional positions


def nice_step(x: float) -> float:
    """The smallest 1, 2 or 5 x 10^k not below ``x``."""
    k = 10.0 ** math.floor(math.log10(max(x, 1e-9)))
    return next(m * k for m in (1, 2, 5, 10) if m * k >= x * (1 - 1e-9))


def font_scale(size: tuple[int, int]) -> float:
    """Hershey font scale for a canvas: readable on a 640x360 video tile, not shouting on a poster."""
    return float(np.clip(0.62 * min(size[0] / 1400, size[1] / 950), 0.38, 0.62))


def _ticks(lo: float, hi: float, step: float) -> np.ndarray:
    return np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step


def _tick_label(v: float, step: float) -> str:
    digits = 0 if step >= 1 else max(1, -math.floor(math.log10(step)))
    return f"{0.0 if abs(v) < step * 1e-6 else v:.{digits}f}"


@dataclass(frozen=True)
class LegendItem:
    kind: str  # "dot", "line", "fading" or "view"
    long: str  # text where the header has room
    short: str  # text on a small canvas


class FloorPlot:
    """One canvas size: the layout, the floor <-> pixel mapping and the static base image."""

    def __init__(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        size: tuple[int, int],
        footprints: list[Footprint],
        legend: list[LegendItem],
    ) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.fs = fs = font_scale(self.size)
        th = text_size("0", fs)[1]
        self.pad = pad = max(3, th // 2)
        self.line = 2
        self.header_h = th + 4 * pad
        tick = max(3, th // 3)
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        ylab = text_size("-00", fs)[0]
        for _ in range(2):  # the y tick labels' width sets the left margin, which sets the ticks
            self._fit(lo, hi, left=pad + th + 2 * pad + ylab + tick, bottom=tick + 4 * pad + 2 * th)
            need = max((text_size(_tick_label(y, self.step), fs)[0] for y in self._yticks), default=0)
            if need <= ylab:
                break
            ylab = need
        self.occupied: list[Box] = []  # plot-area boxes that data labels should avoid
        self.base = self._draw_base(footprints, tick)
        self._draw_legend(legend)

    def _fit(self, lo: np.ndarray, hi: np.ndarray, left: int, bottom: int) -> None:
        """Plot area and scale: the extent fits it at one scale for both axes, then grows to fill it."""
        w, h = self.size
        x0, y0 = left, self.header_h
        x1, y1 = w - self.pad - text_size("00", self.fs)[0] // 2, h - bottom
        self.box: Box = (x0, y0, x1, y1)
        pw, ph = max(x1 - x0, 10), max(y1 - y0, 10)
        span = np.maximum(hi - lo, 1e-3)
        self.scale = min(pw / span[0], ph / span[1])  # pixels per metre
        centre = (lo + hi) / 2
        self.lo = centre - np.array([pw, ph]) / self.scale / 2
        self.hi = centre + np.array([pw, ph]) / self.scale / 2
        # ticks at least five widths of a label apart
        self.step = nice_step(max(5 * text_size("-00", self.fs)[0], 60) / self.scale)
        self._xticks = _ticks(self.lo[0], self.hi[0], self.step)
        self._yticks = _ticks(self.lo[1], self.hi[1], self.step)

    # -- mapping ---------------------------------------------------------------------------------
    def px(self, xy: np.ndarray) -> np.ndarray:
        """Floor metres (..., 2) -> plot-area pixels (..., 2), y up on the plan."""
        p = (np.asarray(xy, np.float64) - self.lo) * self.scale
        p[..., 1] = (self.box[3] - self.box[1]) - p[..., 1]
        return p

    @staticmethod
    def fixed(p: np.ndarray) -> np.ndarray:
        """Pixels as OpenCV fixed-point integers (use with ``shift=SUBPIXEL``)."""
        return np.round(np.asarray(p) * (1 << SUBPIXEL)).astype(np.int32)

    def view(self, img: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return img[y0:y1, x0:x1]

    @property
    def bounds(self) -> Box:
        """The plot area in its own coordinates."""
        return 0, 0, self.box[2] - self.box[0], self.box[3] - self.box[1]

    def canvas(self) -> np.ndarray:
        return self.base.copy()

    def title(self, img: np.ndarray, text: str, short: str) -> None:
        """The header's left part: ``text``, or ``short`` where the legend leaves too little room."""
        room = self._legend_x - 2 * self.pad
        if text_size(text, self.fs)[0] > room:
            text = short
        th = text_size("0", self.fs)[1]
        cv2.putText(img, text, (self.pad, (self.header_h + th) // 2), FONT, self.fs, TEXT, 1, cv2.LINE_AA)

    # -- static drawing --------------------------------------------------------------------------
    def _draw_base(self, footprints: list[Footprint], tick: int) -> np.ndarray:
        w, h = self.size
        fs, pad = self.fs, self.pad
        img = np.full((h, w, 3), MARGIN_BG, np.uint8)
        x0, y0, x1, y1 = self.box
        view = self.view(img)
        view[:] = PLOT_BG
        step, xs, ys = self.step, self._xticks, self._yticks
        for x in xs:
            u = self.px(np.array([x, 0.0]))[0]
            cv2.line(view, (round(u), 0), (round(u), y1 - y0), GRID, 1)
        for y in ys:
            v = self.px(np.array([0.0, y]))[1]
            cv2.line(view, (0, round(v)), (x1 - x0, round(v)), GRID, 1)
        self._draw_footprints(view, footprints)
        self._draw_scale_bar(view)
        self._draw_cameras(view, footprints)
        cv2.rectangle(img, (x0 - 1, y0 - 1), (x1, y1), AXIS, 1)
        th = text_size("0", fs)[1]
        for x in xs:
            u = x0 + round(self.px(np.array([x, 0.0]))[0])
            cv2.line(img, (u, y1), (u, y1 + tick), AXIS, 1)
            label = _tick_label(x, step)
            tw = text_size(label, fs)[0]
            cv2.putText(img, label, (u - tw // 2, y1 + tick + pad + th), FONT, fs, TEXT, 1, cv2.LINE_AA)
        for y in ys:
            v = y0 + round(self.px(np.array([0.0, y]))[1])
            cv2.line(img, (x0 - 1 - tick, v), (x0 - 1, v), AXIS, 1)
            label = _tick_label(y, step)
            tw = text_size(label, fs)[0]
            cv2.putText(img, label, (x0 - tick - pad - tw, v + th // 2), FONT, fs, TEXT, 1, cv2.LINE_AA)
        title = "x (m)"
        tw = text_size(title, fs)[0]
        cv2.putText(img, title, ((x0 + x1 - tw) // 2, h - pad - 1), FONT, fs, TEXT, 1, cv2.LINE_AA)
        self._vertical_text(img, "y (m)", pad, (y0 + y1) // 2)
        return img

    def _draw_footprints(self, view: np.ndarray, footprints: list[Footprint]) -> None:
        for fp in footprints:
            poly = self.fixed(self.px(fp.polygon))
            layer = view.copy()
            cv2.fillPoly(layer, [poly], VIEW, cv2.LINE_AA, SUBPIXEL)
            cv2.addWeighted(layer, VIEW_ALPHA, view, 1 - VIEW_ALPHA, 0, dst=view)
        edge = blend(VIEW, PLOT_BG, 0.45)
        for fp in footprints:
            cv2.polylines(view, [self.fixed(self.px(fp.polygon))], True, edge, 1, cv2.LINE_AA, SUBPIXEL)

    def _draw_cameras(self, view: np.ndarray, footprints: list[Footprint]) -> None:
        """Each camera's mark where it stands (if on the plan) and its tag, clear of what is there."""
        fs = self.fs * 0.9
        tags = [f"cam {fp.camera_id}" for fp in footprints]
        cands = []
        bounds = self.bounds
        for fp, tag in zip(footprints, tags, strict=True):
            u, v = self.px(fp.anchor if fp.camera is None else fp.camera)
            shown = fp.camera is not None and 0 <= u < bounds[2] and 0 <= v < bounds[3]
            if not shown:
                u, v = self.px(fp.anchor)
            size = tag_size(tag, fs)
            around = around_point(u, v, size, 5)
            if not shown:
                # centred on the anchor (the near edge of the view), else beside it
                tw, th = size
                x0, y0 = round(u - tw / 2), round(v - th / 2)
                cands.append([(x0, y0, x0 + tw, y0 + th), *around])
                continue
            look = self.px(fp.anchor) - np.array([u, v])
            look /= max(float(np.linalg.norm(look)), 1e-9)
            self._camera_marker(view, np.array([u, v]), look)
            # nearest first and, at one distance, behind the camera first: the tag leaves its view clear
            centre = np.array([[(b[0] + b[2]) / 2 - u, (b[1] + b[3]) / 2 - v] for b in around])
            ring = np.arange(len(around)) // 8  # around_point gives eight boxes per distance
            order = np.lexsort((centre @ look, ring))
            cands.append([around[i] for i in order])
        for box, tag in zip(place(cands, bounds, self.occupied), tags, strict=True):
            draw_tag(view, box, tag, blend(VIEW, PLOT_BG, 0.3), fs)
            self.occupied.append(box)

    def _camera_marker(self, view: np.ndarray, at: np.ndarray, look: np.ndarray) -> None:
        """The camera: a dot with a short field-of-view wedge opening where it looks."""
        length = 2.5 * text_size("0", self.fs)[1]
        a = math.radians(30)
        rot = [np.array([[math.cos(s), -math.sin(s)], [math.sin(s), math.cos(s)]]) for s in (a, -a)]
        wedge = np.array([at, at + length * (rot[0] @ look), at + length * (rot[1] @ look)])
        dark = blend(VIEW, TEXT, 0.6)
        layer = view.copy()
        cv2.fillPoly(layer, [self.fixed(wedge)], VIEW, cv2.LINE_AA, SUBPIXEL)
        cv2.addWeighted(layer, 0.35, view, 0.65, 0, dst=view)
        cv2.polylines(view, [self.fixed(wedge)], True, dark, 1, cv2.LINE_AA, SUBPIXEL)
        cv2.circle(view, tuple(self.fixed(at)), 4 << SUBPIXEL, dark, -1, cv2.LINE_AA, SUBPIXEL)
        lo, hi = wedge.min(axis=0) - 4, wedge.max(axis=0) + 5
        self.occupied.append((int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])))

    def _draw_scale_bar(self, view: np.ndarray) -> None:
        pw = self.box[2] - self.box[0]
        length_m = nice_step(pw / self.scale / 6)
        bar = round(length_m * self.scale)
        label = f"{length_m:g} m"
        fs, pad = self.fs, self.pad
        tw, th = text_size(label, fs)
        ph = self.box[3] - self.box[1]
        bx0, by1 = 2 * pad, ph - 2 * pad
        box = (bx0 - pad, by1 - th - 3 * pad - 4, bx0 + max(bar, tw) + pad, by1 + pad)
        cv2.line(view, (bx0, by1), (bx0 + bar, by1), TEXT, 2)
        for x in (bx0, bx0 + bar):
            cv2.line(view, (x, by1 - 4), (x, by1), TEXT, 2)
        cv2.putText(view, label, (bx0, by1 - 4 - pad), FONT, fs, TEXT, 1, cv2.LINE_AA)
        self.occupied.append(box)

    def _vertical_text(self, img: np.ndarray, text: str, x: int, yc: int) -> None:
        """``text`` reading bottom to top, its left edge (after rotation) at ``x``, centred on ``yc``."""
        tw, th = text_size(text, self.fs)
        strip = np.full((th + 2 * self.pad, tw + 2, 3), MARGIN_BG, np.uint8)
        cv2.putText(strip, text, (1, th + self.pad // 2), FONT, self.fs, TEXT, 1, cv2.LINE_AA)
        strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
        sh, sw = strip.shape[:2]
        top = max(0, yc - sh // 2)
        img[top : top + sh, x : x + sw] = strip[: img.shape[0] - top, : img.shape[1] - x]

    def _draw_legend(self, items: list[LegendItem]) -> None:
        """Legend, right-aligned in the header: long texts where they fit, short ones otherwise."""
        fs, pad = self.fs, self.pad
        th = text_size("0", fs)[1]
        sw = 2 * th + 4  # swatch width
        gap = 2 * th
        for texts in ([i.long for i in items], [i.short for i in items]):
            width = sum(sw + pad + text_size(t, fs)[0] for t in texts) + gap * (len(texts) - 1)
            if width <= self.size[0] * 0.62:
                break
        x = self.size[0] - pad - width
        self._legend_x = x
        yc = self.header_h // 2
        colour = palette()[0]
        for item, text in zip(items, texts, strict=True):
            self._swatch(item.kind, x, yc, sw, th, colour)
            x += sw + pad
            cv2.putText(self.base, text, (x, yc + th // 2), FONT, fs, TEXT, 1, cv2.LINE_AA)
            x += text_size(text, fs)[0] + gap

    def _swatch(self, kind: str, x: int, yc: int, sw: int, th: int, colour: BGR) -> None:
        img = self.base
        if kind == "dot":
            cv2.circle(img, (x + sw // 2, yc), self.line + 3, colour, -1, cv2.LINE_AA)
            cv2.circle(img, (x + sw // 2, yc), self.line + 3, (255, 255, 255), 1, cv2.LINE_AA)
        elif kind == "line":
            cv2.line(img, (x, yc), (x + sw, yc), colour, self.line, cv2.LINE_AA)
        elif kind == "fading":
            n = 6
            for k in range(n):
                c = blend(colour, MARGIN_BG, 0.15 + 0.85 * (k + 1) / n)
                cv2.line(img, (x + k * sw // n, yc), (x + (k + 1) * sw // n, yc), c, self.line, cv2.LINE_AA)
        elif kind == "view":
            box = (x, yc - th // 2 - 1, x + sw, yc + th // 2 + 1)
            cv2.rectangle(img, box[:2], box[2:], blend(VIEW, MARGIN_BG, 3 * VIEW_ALPHA), -1)
            cv2.rectangle(img, box[:2], box[2:], blend(VIEW, MARGIN_BG, 0.45), 1)
