"""What ``mcpt prepare`` takes from each camera: detector frames with their labels, ReID crops.

Decided from the ground truth alone, before any video is decoded, so the work can be resumed and
checked: the same scenes and options always give the same plan (and the same file names).

* Detector: frames 0, N, 2N ... up to the scene's last ground-truth frame (later frames have no
  labels, so they would teach the detector that nobody is there); the last ``val_share`` of each
  camera's frames is the validation split (neighbouring frames are near-duplicates: a random split
  would leak). One label row per ground-truth box, clipped to the image; boxes wholly outside it
  are dropped and counted.
* ReID: each identity is in the training split or the test split (a seeded shuffle of all
  identities, ``test_share`` of them held out); per identity at most ``per_identity`` crops, spread
  evenly over time across its cameras; crops less than ``min_height`` px tall or less than
  ``min_visible`` inside the image are skipped. A test identity gives one query per camera (its
  middle crop there); its other crops form the gallery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from mcpt.datasets.market import GALLERY, QUERY, TRAIN
from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir
from mcpt.scene.results import Rows

log = logging.getLogger(__name__)
WHAT = ("det", "reid")


@dataclass(frozen=True)
class PrepareOptions:
    what: tuple[str, ...] = WHAT
    every: int = 30  # the reference keeps every 30th frame for its detector
    val_share: float = 0.2
    test_share: float = 0.25
    per_identity: int = 100  # the reference's crops per identity
    min_height: int = 32
    min_visible: float = 0.6
    seed: int = 0

    def check(self) -> None:
        bad = [w for w in self.what if w not in WHAT]
        if bad or not self.what:
            raise InputError(
                None, f"expected a comma list of {', '.join(WHAT)}, got {','.join(self.what)!r}", field="--what"
            )
        if not 0 <= self.val_share < 1:
            raise InputError(None, f"expected a share in [0, 1), got {self.val_share}", field="--val-share")
        if not 0 <= self.test_share <= 1:
            raise InputError(None, f"expected a share in [0, 1], got {self.test_share}", field="--test-share")
        for name in ("every", "per_identity", "min_height"):
            if getattr(self, name) < 1:
                raise InputError(None, "expected a positive integer", field="--" + name.replace("_", "-"))


@dataclass
class CropJob:
    folder: str  # TRAIN, QUERY or GALLERY
    person: int  # dataset-wide person id (1-based)
    box: np.ndarray  # x, y, w, h in source pixels


@dataclass
class CameraPlan:
    scene: SceneDir
    camera_id: int
    video: object  # Path
    image_size: tuple[int, int]
    det_frames: dict[int, str] = field(default_factory=dict)  # frame -> train | val
    labels: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (K, 4) clipped x, y, w, h
    crops: dict[int, list[CropJob]] = field(default_factory=lambda: defaultdict(list))  # frame -> crops
    last_gt_frame: int = -1
    dropped_boxes: int = 0  # ground-truth boxes wholly outside the image

    @property
    def key(self) -> str:
        return f"{self.scene.name}/camera_{self.camera_id:04d}"

    @property
    def frames_needed(self) -> list[int]:
        return sorted(set(self.det_frames) | set(self.crops))


@dataclass
class Identity:
    person: int
    scene: str
    obj: int
    split: str  # train | test


def scene_number(scene: SceneDir) -> int:
    digits = "".join(ch for ch in scene.name if ch.isdigit())
    return int(digits) if digits else 0


def clip_boxes(boxes: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x, y, w, h boxes clipped to a width x height image, and the share of each box left inside."""
    w, h = size
    x1 = np.clip(boxes[:, 0], 0, w)
    y1 = np.clip(boxes[:, 1], 0, h)
    x2 = np.clip(boxes[:, 0] + boxes[:, 2], 0, w)
    y2 = np.clip(boxes[:, 1] + boxes[:, 3], 0, h)
    inside = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    share = inside / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)
    return np.column_stack([x1, y1, x2 - x1, y2 - y1]), share


def split_identities(keys: list[tuple[str, int]], test_share: float, seed: int) -> list[Identity]:
    order = np.random.default_rng(seed).permutation(len(keys))
    n_test = round(test_share * len(keys))
    test = set(order[:n_test].tolist())
    return [Identity(i + 1, s, o, "test" if i in test else "train") for i, (s, o) in enumerate(keys)]


def plan_scene_cameras(
    scene: SceneDir, gt: Rows, opts: PrepareOptions, sizes: dict[int, tuple[int, int]]
) -> list[CameraPlan]:
    """The detector part of the plan for each camera with ground truth; cameras without any are skipped."""
    plans = []
    last_scene_frame = int(gt.frame.max()) if len(gt) else -1
    for cam in scene.cameras:
        rows = gt.select(gt.camera == cam.camera_id)
        if not len(rows):
            log.warning(
                "%s/%s has no ground-truth rows: skipped (its frames would teach the detector that nobody is there)",
                scene.name,
                cam.name,
            )
            continue
        if cam.video is None:
            raise InputError(cam.path, "no video (video.mp4) for a camera with ground truth")
        size = sizes[cam.camera_id]
        plan = CameraPlan(scene, cam.camera_id, cam.video, size, last_gt_frame=int(rows.frame.max()))
        if "det" in opts.what:
            frames = np.arange(0, last_scene_frame + 1, opts.every)
            n_val = round(opts.val_share * len(frames))
            for k, f in enumerate(frames.tolist()):
                plan.det_frames[f] = "val" if k >= len(frames) - n_val else "train"
            keep = np.isin(rows.frame, frames)
            clipped, share = clip_boxes(rows.box[keep], size)
            ok = (share > 0) & (clipped[:, 2] >= 1) & (clipped[:, 3] >= 1)
            plan.dropped_boxes = int((~ok).sum())
            for f in frames.tolist():
                plan.labels[f] = clipped[ok & (rows.frame[keep] == f)]
        plans.append(plan)
    return plans


def plan_crops(
    scene: SceneDir,
    gt: Rows,
    plans: list[CameraPlan],
    identities: dict[tuple[str, int], Identity],
    opts: PrepareOptions,
) -> None:
    """Adds the ReID crops of one scene's identities to its camera plans."""
    by_cam = {p.camera_id: p for p in plans}
    rows = gt.select(np.isin(gt.camera, list(by_cam)))
    for obj in np.unique(rows.obj).tolist():
        ident = identities[(scene.name, obj)]
        mine = rows.select(rows.obj == obj)
        good = []
        for i in np.lexsort((mine.camera, mine.frame)).tolist():
            size = by_cam[int(mine.camera[i])].image_size
            clipped, share = clip_boxes(mine.box[i : i + 1], size)
            if share[0] >= opts.min_visible and clipped[0, 3] >= opts.min_height and clipped[0, 2] >= 4:
                good.append((int(mine.camera[i]), int(mine.frame[i]), clipped[0]))
        if not good:
            continue
        take = np.unique(np.linspace(0, len(good) - 1, min(opts.per_identity, len(good))).round().astype(int))
        chosen = [good[k] for k in take.tolist()]
        if ident.split == "train":
            for cam, f, box in chosen:
                by_cam[cam].crops[f].append(CropJob(TRAIN, ident.person, box))
            continue
        per_cam = defaultdict(list)
        for c in chosen:
            per_cam[c[0]].append(c)
        for cam, items in per_cam.items():
            q = len(items) // 2
            for k, (_, f, box) in enumerate(items):
                by_cam[cam].crops[f].append(CropJob(QUERY if k == q else GALLERY, ident.person, box))
