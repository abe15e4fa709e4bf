"""Photoreal rendering: real people's cut-outs composited into calibrated cameras, with exact ground truth.

Each camera's frame is

* a static backdrop: a floor texture (concrete slabs, joints, stains) warped through the camera's
  homography where the image sees the floor, a wall/sky gradient above the horizon;
* static occluders: pillars (hide a person's side) and shelves/desks (hide the legs), 3-D boxes
  projected through the camera, drawn in depth order with the people;
* the people: each simulated identity wears one walker of the sprite bank (sprites.py), scaled to
  the projected height of that person at their floor position, its feet at the projected foot
  point, the walking-cycle phase following the distance walked, mirrored to face the way the
  person moves in the image, far to near;
* the camera's own colour response (gains, gamma), blur and sensor noise.

Ground truth is written from the geometry: the box of each person's visible pixels (after
nearer people, occluders and the image border; rows with less than ``MIN_VISIBLE`` of the body
visible are not annotated) and the true floor position.

Not modelled (say so when quoting results): one viewpoint per sprite (every camera sees the same
side of a person), no lighting or shadows, people walk through occluders rather than around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mcpt.simulate.cameras import PinholeCamera
from mcpt.simulate.sprites import SpriteBank
from mcpt.simulate.world import Floor

MIN_VISIBLE = 0.3  # share of a person's pixels that must be visible for a ground-truth row
TEXTURE_PX_PER_M = 40
MARGIN_M = 12.0  # ground texture beyond the floor, so the horizon is not a cliff
NOISE_FIELDS = 7


@dataclass(frozen=True)
class Occluder:
    centre: tuple[float, float]  # floor position of the box's footprint centre
    size: tuple[float, float, float]  # x, y extent and height, metres
    colour: tuple[int, int, int]  # BGR


@dataclass
class Layer:
    """A patch to paint: RGBA (alpha 0..255) at (x0, y0), with a depth and an owner (-1: scenery)."""

    x0: int
    y0: int
    rgba: np.ndarray
    depth: float
    owner: int


def ground_texture(floor: Floor, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A BGR texture of the floor and its surroundings, and its 3x3 texture-pixel -> floor-metre map."""
    s = TEXTURE_PX_PER_M
    w_m, d_m = floor.width + 2 * MARGIN_M, floor.depth + 2 * MARGIN_M
    w, h = int(w_m * s), int(d_m * s)
    noise = cv2.resize(rng.normal(0, 1, (h // 16 + 1, w // 16 + 1)).astype(np.float32), (w, h))
    grain = rng.normal(0, 1, (h, w)).astype(np.float32)
    tex = np.empty((h, w, 3), np.float32)
    uu, vv = np.meshgrid(np.arange(w) / s - MARGIN_M, np.arange(h) / s - MARGIN_M)
    inside = (uu >= 0) & (uu <= floor.width) & (vv >= 0) & (vv <= floor.depth)
    base_in = np.array(rng.uniform(120, 190, 3), np.float32)
    base_out = np.array([70, 110, 90], np.float32) + rng.uniform(-15, 15, 3).astype(np.float32)  # grass/earth
    tex[:] = np.where(inside[..., None], base_in, base_out)
    tex += (9 * noise + 5 * grain)[..., None]
    slab = 1.2
    joints = inside & (
        (np.abs(uu / slab - np.round(uu / slab)) * slab < 0.02)
        | (np.abs(vv / slab - np.round(vv / slab)) * slab < 0.02)
    )
    tex[joints] *= 0.75
    tex_to_floor = np.array([[1 / s, 0, -MARGIN_M], [0, 1 / s, -MARGIN_M], [0, 0, 1.0]])
    return np.clip(tex, 0, 255).astype(np.uint8), tex_to_floor


def backdrop(cam: PinholeCamera, texture: np.ndarray, tex_to_floor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The static image of the scenery: textured ground below the horizon, a wall/sky gradient above."""
    w, h = cam.image_size
    img_from_tex = cam.homography @ tex_to_floor
    ground = cv2.warpPerspective(texture, img_from_tex, (w, h), flags=cv2.INTER_LINEAR, borderValue=(95, 110, 100))
    # pixels that see the floor in front of the camera: the floor point's homogeneous w has the sign
    # it has at the bottom centre of the image (which every placed camera sees on the floor)
    h_inv = np.linalg.inv(cam.homography)
    uu, vv = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    wsign = h_inv[2, 0] * uu + h_inv[2, 1] * vv + h_inv[2, 2]
    ref = h_inv[2] @ np.array([w / 2, h - 1.0, 1.0])
    sees_floor = np.sign(wsign) == np.sign(ref)
    top = np.array(rng.uniform(150, 210, 3))
    bottom = np.array(rng.uniform(100, 160, 3))
    ramp = np.linspace(0, 1, h)[:, None, None]
    wall = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3))
    return np.where(sees_floor[..., None], ground, wall.astype(np.uint8))


def place_occluders(floor: Floor, rng: np.random.Generator, pillars: int, shelves: int) -> list[Occluder]:
    """Pillars inside the room and shelves/desks (1.0-1.3 m: they hide legs) near its walls."""
    out = []
    for _ in range(pillars):
        x, y = rng.uniform(0.25, 0.75) * floor.width, rng.uniform(0.25, 0.75) * floor.depth
        s = float(rng.uniform(0.35, 0.6))
        out.append(Occluder((x, y), (s, s, 3.0), tuple(int(c) for c in rng.uniform(110, 200, 3))))
    for _ in range(shelves):
        along_x = bool(rng.integers(2))
        length, depth, height = float(rng.uniform(1.5, 3.0)), float(rng.uniform(0.5, 0.8)), float(rng.uniform(1.0, 1.3))
        if along_x:
            x = rng.uniform(0.2, 0.8) * floor.width
            y = rng.choice([rng.uniform(1.0, 2.5), floor.depth - rng.uniform(1.0, 2.5)])
            size = (length, depth, height)
        else:
            x = rng.choice([rng.uniform(1.0, 2.5), floor.width - rng.uniform(1.0, 2.5)])
            y = rng.uniform(0.2, 0.8) * floor.depth
            size = (depth, length, height)
        out.append(Occluder((float(x), float(y)), size, tuple(int(c) for c in rng.uniform(40, 140, 3))))
    return out


def occluder_layer(cam: PinholeCamera, occ: Occluder) -> Layer | None:
    """The box's faces as seen by the camera (lit from above: top bright, sides by orientation)."""
    (cx, cy), (sx, sy, sz) = occ.centre, occ.size
    xs, ys = (cx - sx / 2, cx + sx / 2), (cy - sy / 2, cy + sy / 2)
    corners = np.array([[x, y, z] for z in (0.0, sz) for y in ys for x in xs])
    if np.any(cam.depth(corners) <= 0.2):
        return None
    uv = cam.project(corners)
    w, h = cam.image_size
    x0, y0 = np.floor(uv.min(axis=0)).astype(int)
    x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + 1
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return None
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    patch = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    # faces: (corner indices, shade); painted far to near so the visible ones end on top
    faces = [
        ((0, 1, 3, 2), 0.55),  # bottom (hidden by the floor, but keeps the silhouette closed)
        ((0, 1, 5, 4), 0.8),
        ((2, 3, 7, 6), 0.8),
        ((0, 2, 6, 4), 0.65),
        ((1, 3, 7, 5), 0.65),
        ((4, 5, 7, 6), 1.0),  # top
    ]
    depth = cam.depth(corners)
    colour = np.array(occ.colour, np.float64)
    for idx, shade in sorted(faces, key=lambda f: -np.mean(depth[list(f[0])])):
        poly = np.round(uv[list(idx)] - [x0, y0]).astype(np.int32)
        cv2.fillConvexPoly(patch, poly, (*(colour * shade).astype(int).tolist(), 255), lineType=cv2.LINE_AA)
    return Layer(x0, y0, patch, float(cam.depth(np.array([[cx, cy, sz / 2]]))[0]), -1)


def _rect(layer: Layer, w: int, h: int) -> tuple[int, int, int, int]:
    """The layer's pixels inside the image: x0, y0, x1, y1 (empty when x1 <= x0 or y1 <= y0)."""
    ph, pw = layer.rgba.shape[:2]
    return max(layer.x0, 0), max(layer.y0, 0), min(layer.x0 + pw, w), min(layer.y0 + ph, h)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])


def paint(img: np.ndarray, owner: np.ndarray, layer: Layer, clip: tuple[int, int, int, int] | None = None) -> None:
    """Alpha-blend a layer into the image (within ``clip``); the pixels it covers (alpha > 1/2) now
    belong to its owner."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = _rect(layer, w, h) if clip is None else _overlap(_rect(layer, w, h), clip)
    if x1 <= x0 or y1 <= y0:
        return
    src = layer.rgba[y0 - layer.y0 : y1 - layer.y0, x0 - layer.x0 : x1 - layer.x0]
    a = src[..., 3:4].astype(np.float32) * (1.0 / 255.0)
    roi = img[y0:y1, x0:x1]
    roi[:] = (src[..., :3] * a + roi * (1.0 - a)).astype(np.uint8)
    owner[y0:y1, x0:x1][src[..., 3] > 127] = layer.owner


@dataclass(frozen=True)
class CameraLook:
    """A camera's own rendition of the scene."""

    gains: tuple[float, float, float]  # B, G, R
    gamma: float
    blur_sigma: float
    noise_sigma: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> CameraLook:
        return cls(
            tuple(float(g) for g in rng.uniform(0.85, 1.15, 3)),
            float(rng.uniform(0.85, 1.15)),
            float(rng.uniform(0.4, 1.0)),
            float(rng.uniform(1.5, 4.0)),
        )

    def lut(self) -> np.ndarray:
        x = np.arange(256, dtype=np.float64) / 255.0
        return np.stack([np.clip(255 * g * x**self.gamma, 0, 255) for g in self.gains], axis=1).astype(np.uint8)


class PhotorealCamera:
    """Renders one camera's frames of a simulated population with the sprite bank."""

    def __init__(
        self,
        cam: PinholeCamera,
        texture: np.ndarray,
        tex_to_floor: np.ndarray,
        occluders: list[Occluder],
        rng: np.random.Generator,
    ) -> None:
        self.cam = cam
        self.background = backdrop(cam, texture, tex_to_floor, rng)
        self.occluders = [lay for o in occluders if (lay := occluder_layer(cam, o)) is not None]
        self.owner = np.full(self.background.shape[:2], -1, np.int32)
        # the scenery never changes: occluders are painted into it once (far to near); each frame
        # repaints, around each person only, everything that overlaps them in depth order
        self.static = self.background.copy()
        for layer in sorted(self.occluders, key=lambda lay: -lay.depth):
            paint(self.static, self.owner, layer)
        self.owner.fill(-1)
        self.look = CameraLook.random(rng)
        self.lut = self.look.lut().reshape(256, 1, 3)
        # sensor noise: a few fields drawn once, used in turn (drawing a field per frame costs more
        # than the rest of the rendering)
        self.noise = []
        cv2.setRNGSeed(int(rng.integers(1 << 31)))
        for _ in range(NOISE_FIELDS):
            field = np.empty(self.background.shape, np.int16)
            cv2.randn(field, 0, self.look.noise_sigma)
            self.noise.append(field)

    def person_layer(
        self, ident: int, xy: np.ndarray, height_m: float, sprite: np.ndarray, mirror: bool
    ) -> Layer | None:
        foot = np.array([[xy[0], xy[1], 0.0]])
        head = np.array([[xy[0], xy[1], height_m]])
        d = float(self.cam.depth(foot)[0])
        if d <= 0.5 or self.cam.depth(head)[0] <= 0.5:
            return None
        fu, hu = self.cam.project(foot)[0], self.cam.project(head)[0]
        target_h = float(np.linalg.norm(fu - hu))
        if target_h < 8:
            return None
        scale = target_h / sprite.shape[0]
        tw = max(1, round(sprite.shape[1] * scale))
        th = max(1, round(target_h))
        img = cv2.resize(sprite, (tw, th), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        if mirror:
            img = img[:, ::-1]
        w, h = self.cam.image_size
        x0, y0 = round(fu[0] - tw / 2), round(fu[1] - th)
        if x0 >= w or y0 >= h or x0 + tw <= 0 or y0 + th <= 0:
            return None
        return Layer(x0, y0, np.ascontiguousarray(img), d, ident)

    def render(self, people: list[Layer], frame: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The frame and each person's visible box (x y w h) where enough of them shows."""
        img = self.static.copy()
        owner = self.owner
        h, w = img.shape[:2]
        layers = sorted([*people, *self.occluders], key=lambda lay: -lay.depth)
        rects = [_rect(lay, w, h) for lay in layers]
        for p in people:
            region = _rect(p, w, h)
            x0, y0, x1, y1 = region
            if x1 <= x0 or y1 <= y0:
                continue
            img[y0:y1, x0:x1] = self.static[y0:y1, x0:x1]
            owner[y0:y1, x0:x1] = -1
            for layer, r in zip(layers, rects, strict=True):
                o = _overlap(r, region)
                if o[2] > o[0] and o[3] > o[1]:
                    paint(img, owner, layer, region)
        boxes = {}
        for p in people:
            ph, pw = p.rgba.shape[:2]
            x0, y0 = max(p.x0, 0), max(p.y0, 0)
            sub = owner[y0 : p.y0 + ph, x0 : p.x0 + pw] == p.owner
            full = int(np.count_nonzero(p.rgba[..., 3] > 127))
            seen = int(np.count_nonzero(sub))
            if not full or seen < MIN_VISIBLE * full:
                continue
            ys, xs = np.nonzero(sub)
            boxes[p.owner] = np.array(
                [x0 + xs.min(), y0 + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], np.float64
            )
        return self._camera_response(img, frame), boxes

    def _camera_response(self, img: np.ndarray, frame: int) -> np.ndarray:
        img = cv2.LUT(img, self.lut)
        if self.look.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), self.look.blur_sigma)
        return cv2.add(img, self.noise[frame % NOISE_FIELDS], dtype=cv2.CV_8U)


class PhotorealScene:
    """Every camera of a simulated scene rendered with real people: per frame, images and ground truth."""

    def __init__(
        self,
        cameras: list[PinholeCamera],
        floor: Floor,
        num_identities: int,
        heights: np.ndarray,
        bank: SpriteBank,
        rng: np.random.Generator,
        pillars: int = 2,
        shelves: int = 3,
    ) -> None:
        texture, tex_to_floor = ground_texture(floor, rng)
        self.occluders = place_occluders(floor, rng, pillars, shelves)
        self.cameras = [PhotorealCamera(c, texture, tex_to_floor, self.occluders, rng) for c in cameras]
        self.bank = bank
        self.heights = heights
        # each identity wears one walker; identities beyond the bank's size repeat walkers in turn
        self.walker_of = rng.permutation(max(num_identities, len(bank)))[:num_identities] % len(bank)
        self.walked = np.zeros(num_identities)  # metres walked, for the gait's phase
        self.last_xy: dict[int, np.ndarray] = {}

    def _sprite(self, ident: int) -> tuple[np.ndarray, int]:
        w = self.bank.walkers[self.walker_of[ident]]
        k = int(self.walked[ident] / max(w.metres_per_frame, 0.02)) % len(w.sprites)
        return w.sprites[k], w.direction

    def render(self, frame: int, ids: np.ndarray, xy: np.ndarray) -> list[tuple[np.ndarray, dict[int, np.ndarray]]]:
        """Per camera: (image, {identity: visible box}) of one frame."""
        moves = {}
        for i, p in zip(ids.tolist(), xy, strict=True):
            prev = self.last_xy.get(i)
            step = p - prev if prev is not None else np.zeros(2)
            self.walked[i] += float(np.linalg.norm(step))
            moves[i] = step
            self.last_xy[i] = p.copy()
        out = []
        for cam in self.cameras:
            layers = []
            for i, p in zip(ids.tolist(), xy, strict=True):
                sprite, direction = self._sprite(i)
                # which way the person moves across this image decides which way the sprite faces
                a, b = cam.cam.project(np.array([[*p, 0.0], [*(p + moves[i]), 0.0]]))
                dx = b[0] - a[0]
                mirror = direction != 0 and abs(dx) > 0.05 and np.sign(dx) != direction
                layer = cam.person_layer(i, p, float(self.heights[i]), sprite, bool(mirror))
                if layer is not None:
                    layers.append(layer)
            out.append(cam.render(layers, frame))
        return out
