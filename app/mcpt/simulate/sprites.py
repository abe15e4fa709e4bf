"""A bank of real people cut out of real footage, for the photoreal simulator.

From a video of people walking past a still camera (Debian opencv-doc's ``vtest.avi`` by default):

1. a background model: the per-pixel median of frames spread over the video;
2. per frame, a foreground mask (colour distance to the background, cleaned by morphology) and
   the person detector's boxes, which separate people the mask joins;
3. per detection, a cut-out: the foreground inside the box, kept only when the box touches no
   other detection (a merged or occluded cut-out mixes people), lies inside the frame, holds one
   body (its mask spans the box's height and fills a plausible share of it);
4. cut-outs linked over frames (box overlap) into walkers: each a sequence of RGBA sprites over
   its walking cycle, with the person's height in pixels, walking direction and stride.

Built once and cached under the user's cache folder, keyed by the source video's and the
detector's content and this module's version; deterministic for a given source and detector.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError

log = logging.getLogger(__name__)

BANK_VERSION = 1  # bump when the extraction changes: cached banks are rebuilt
DEFAULT_SOURCE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PERSON_HEIGHT_M = 1.7  # the height a sprite stands for, to turn its stride in pixels into metres

MIN_SCORE = 0.25  # detections used to cut people out
MIN_HEIGHT_PX = 40
FG_THRESHOLD = 28  # colour distance (max over channels) to the background that counts as foreground
MIN_FILL, MAX_FILL = 0.2, 0.85  # share of the box a single body's mask covers
MIN_RUN = 8  # consecutive good cut-outs that make a walker


@dataclass
class Walker:
    """One real person's consecutive cut-outs (a walking cycle or more)."""

    sprites: list[np.ndarray]  # RGBA uint8, each cropped to the body
    height_px: float  # median body height in the source, pixels
    direction: int  # +1 walking right in the source image, -1 left, 0 standing
    stride_px: float  # median horizontal motion per source frame, pixels

    @property
    def metres_per_frame(self) -> float:
        """How far the person walks between two of its sprites (its gait's pace)."""
        return self.stride_px / max(self.height_px, 1.0) * PERSON_HEIGHT_M


@dataclass
class SpriteBank:
    walkers: list[Walker]
    source: str
    rejected: dict[str, int] = field(default_factory=dict)  # cut-outs left out, by reason

    def __len__(self) -> int:
        return len(self.walkers)

    def part(self, which: str) -> SpriteBank:
        """``first`` or ``second`` half of the walkers (``all``: every one): scenes made from different
        halves hold different people, so a ReID model trained on one is tested on strangers. The
        walkers are in the order the source shows them, so one person's broken-up tracks stay together."""
        half = len(self.walkers) // 2
        parts = {"all": self.walkers, "first": self.walkers[:half], "second": self.walkers[half:]}
        if which not in parts:
            raise ValueError(f"expected one of {', '.join(parts)}, got {which!r}")
        return SpriteBank(parts[which], self.source, self.rejected)

    def save(self, path: Path) -> None:
        flat, shapes, walker_of = [], [], []
        for k, w in enumerate(self.walkers):
            for s in w.sprites:
                flat.append(s.reshape(-1))
                shapes.append(s.shape)
                walker_of.append(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(
            tmp,
            pixels=np.concatenate(flat) if flat else np.zeros(0, np.uint8),
            shapes=np.array(shapes, np.int64).reshape(-1, 3),
            walker_of=np.array(walker_of, np.int64),
            height_px=np.array([w.height_px for w in self.walkers]),
            direction=np.array([w.direction for w in self.walkers], np.int64),
            stride_px=np.array([w.stride_px for w in self.walkers]),
            source=np.array(self.source),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> SpriteBank:
        with np.load(path) as z:
            pixels, shapes, walker_of = z["pixels"], z["shapes"], z["walker_of"]
            walkers = [
                Walker([], float(h), int(d), float(s))
                for h, d, s in zip(z["height_px"], z["direction"], z["stride_px"], strict=True)
            ]
            source = str(z["source"])
        k = 0
        for shape, w in zip(shapes, walker_of.tolist(), strict=True):
            n = int(np.prod(shape))
            walkers[w].sprites.append(pixels[k : k + n].reshape(shape))
            k += n
        return cls(walkers, source)


def background_model(video: Path, samples: int = 80) -> tuple[np.ndarray, int]:
    """Per-pixel median of ``samples`` frames spread over the video; and its frame count."""
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if not cap.isOpened() or n <= 0:
        raise InputError(video, "cannot read this video (no frames)")
    picks = set(np.linspace(0, n - 1, min(samples, n)).astype(int).tolist())
    frames = []
    for i in range(n):
        ok, img = cap.read()
        if not ok:
            break
        if i in picks:
            frames.append(img)
    cap.release()
    return np.median(np.stack(frames), axis=0).astype(np.uint8), n


def foreground(img: np.ndarray, bg: np.ndarray) -> np.ndarray:
    diff = np.abs(img.astype(np.int16) - bg.astype(np.int16)).max(axis=2)
    mask = (diff > FG_THRESHOLD).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))


def cut_out(img: np.ndarray, fg: np.ndarray, box: np.ndarray, others: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The RGBA sprite of one detection (x y w h), or None and why not."""
    h_img, w_img = fg.shape
    x, y, w, h = box
    if h < MIN_HEIGHT_PX:
        return None, "small"
    x0, y0 = int(max(x - 0.15 * w, 0)), int(max(y - 0.08 * h, 0))
    x1, y1 = int(min(x + 1.15 * w, w_img)), int(min(y + 1.08 * h, h_img))
    if x <= 2 or y <= 2 or x + w >= w_img - 2 or y + h >= h_img - 2:
        return None, "at the image border"
    if len(others):
        ix = np.clip(np.minimum(x1, others[:, 0] + others[:, 2]) - np.maximum(x0, others[:, 0]), 0, None)
        iy = np.clip(np.minimum(y1, others[:, 1] + others[:, 3]) - np.maximum(y0, others[:, 1]), 0, None)
        if np.any(ix * iy > 0.02 * w * h):
            return None, "touches another person"
    crop = fg[y0:y1, x0:x1]
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(crop, connectivity=8)
    inside = [
        k
        for k in range(1, n)
        if x <= centroids[k, 0] + x0 <= x + w and y <= centroids[k, 1] + y0 <= y + h and stats[k, 4] >= 20
    ]
    if not inside:
        return None, "no foreground"
    body = np.isin(labels, inside)
    ys, xs = np.nonzero(body)
    bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    fill = body.sum() / float(w * h)
    if bh < 0.8 * h:
        return None, "body cut (mask shorter than the box)"
    if not MIN_FILL <= fill <= MAX_FILL:
        return None, "not one body (fill)"
    sy, sx = slice(ys.min(), ys.min() + bh), slice(xs.min(), xs.min() + bw)
    alpha = cv2.GaussianBlur((body[sy, sx] * 255).astype(np.uint8), (3, 3), 0)
    rgb = img[y0:y1, x0:x1][sy, sx]
    return np.dstack([rgb, alpha]), ""


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def build_sprite_bank(video: Path, detector, max_frames: int | None = None, progress: bool = False) -> SpriteBank:
    """Cut every walker out of ``video`` (see the module docstring); ``detector`` is a PersonDetector."""
    from tqdm import tqdm

    bg, n = background_model(video)
    if max_frames:
        n = min(n, max_frames)
    cap = cv2.VideoCapture(str(video))
    tracks: list[dict] = []  # {"box", "last", "runs": [[(frame, sprite, box), ...]]}
    rejected: dict[str, int] = {}
    for t in tqdm(range(n), desc="sprite bank", unit="frame", disable=not progress, leave=False):
        ok, img = cap.read()
        if not ok:
            break
        dets = detector([img])[0]
        dets = dets[dets[:, 4] >= MIN_SCORE, :4]
        fg = foreground(img, bg)
        used: set[int] = set()
        for i, box in enumerate(dets):
            sprite, why = cut_out(img, fg, box, np.delete(dets, i, axis=0))
            if why:
                rejected[why] = rejected.get(why, 0) + 1
            live = [k for k, tr in enumerate(tracks) if t - tr["last"] <= 2 and k not in used]
            best = max(live, key=lambda k: _iou(tracks[k]["box"], box), default=None)
            if best is None or _iou(tracks[best]["box"], box) < 0.3:
                tracks.append({"box": box, "last": t, "runs": [[]]})
                best = len(tracks) - 1
            tr = tracks[best]
            used.add(best)
            if sprite is None or t - tr["last"] > 1:
                tr["runs"].append([])
            if sprite is not None:
                tr["runs"][-1].append((t, sprite, box))
            tr["box"], tr["last"] = box, t
    cap.release()
    walkers = []
    for tr in tracks:
        for run in tr["runs"]:
            if len(run) < MIN_RUN:
                continue
            boxes = np.array([b for _, _, b in run])
            cx = boxes[:, 0] + boxes[:, 2] / 2
            frames = np.array([f for f, _, _ in run], np.float64)
            speed = np.polyfit(frames, cx, 1)[0]  # pixels per frame, signed
            if abs(speed) < 0.3:
                # someone standing still is part of the background model: their cut-outs hold scenery
                rejected["standing"] = rejected.get("standing", 0) + len(run)
                continue
            walkers.append(
                Walker([s for _, s, _ in run], float(np.median(boxes[:, 3])), int(np.sign(speed)), abs(speed))
            )
    return SpriteBank(walkers, str(video), rejected)


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("MCPT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mcpt"
    )
    return Path(base)


def sprite_bank(
    video: Path = DEFAULT_SOURCE,
    detector_path: Path | None = None,
    max_frames: int | None = None,
    progress: bool = True,
) -> SpriteBank:
    """The bank for ``video``, from the cache or built (and cached) now with the manifest's detector."""
    from mcpt.models.detector import PersonDetector
    from mcpt.models.manifest import load_manifest

    video = Path(video)
    if not video.is_file():
        raise InputError(video, "the sprite source video is missing (Debian's opencv-doc ships vtest.avi)")
    spec = load_manifest().detector
    detector_path = Path(detector_path or spec.onnx)
    if not detector_path.is_file():
        raise InputError(detector_path, "the detector is not exported; run `make models`")
    key = f"{_file_digest(video)}-{_file_digest(detector_path)}-v{BANK_VERSION}-{max_frames or 'all'}"
    path = cache_dir() / "sprites" / f"{video.stem}-{key}.npz"
    if path.is_file():
        return SpriteBank.load(path)
    log.info("building the sprite bank from %s (once; cached in %s)", video, path)
    det = PersonDetector(detector_path, spec.width, spec.height, 0.1, 0.45, spec.person_classes or None)
    bank = build_sprite_bank(video, det, max_frames, progress)
    if not len(bank):
        raise InputError(video, "no walker could be cut out of this video")
    bank.save(path)
    log.info("sprite bank: %d walkers; cut-outs left out: %s", len(bank), bank.rejected)
    return bank
