"""The embedded default scene: overlapping virtual cameras cut from Debian's real pedestrian video.

``vtest.avi`` (opencv-doc, 768x576, 10 fps) is one elevated camera over a footpath. We assume
one pinhole camera for it (8 m up, tilted 35 degrees down, focal length 700 px): that fixes
its projection matrix and ground-plane homography. Each virtual camera is a crop of the source
frames, rescaled and with its own colour response; its calibration is the source's composed with
the crop's exact affine map, so every camera's floor positions agree by construction, and which
detections in two cameras show the same person is known exactly (their boxes map to the same
source pixels). That makes cross-camera consistency measurable on real video.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from mcpt.errors import InputError
from mcpt.geometry import iou_xywh
from mcpt.scene.calibration import calibration_from_matrices, load_calibration, write_calibration
from mcpt.scene.results import Rows
from mcpt.simulate.cameras import PinholeCamera, look_at
from mcpt.timebase import DEFAULT_FPS

log = logging.getLogger(__name__)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SOURCE_SIZE = (768, 576)
DEMO_META = "demo.json"


def source_camera() -> PinholeCamera:
    """The assumed camera of vtest.avi: 8 m up, 35 degrees down, f = 700 px (people ~75 px tall at 15 m)."""
    height, tilt = 8.0, np.deg2rad(35.0)
    centre = np.array([0.0, 0.0, height])
    target = np.array([0.0, height / np.tan(tilt), 0.0])
    k = np.array([[700.0, 0, SOURCE_SIZE[0] / 2], [0, 700.0, SOURCE_SIZE[1] / 2], [0, 0, 1]])
    return PinholeCamera(0, k, look_at(centre, target), centre, SOURCE_SIZE)


@dataclass(frozen=True)
class VirtualCamera:
    camera_id: int
    x0: int
    y0: int
    width: int  # of the crop, in source pixels
    height: int
    scale: float  # output pixels per source pixel
    gains: tuple[float, float, float]  # B, G, R colour response
    gamma: float

    @property
    def affine(self) -> np.ndarray:
        """Source pixels -> this camera's pixels."""
        s = self.scale
        return np.array([[s, 0, -s * self.x0], [0, s, -s * self.y0], [0, 0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        return round(self.width * self.scale), round(self.height * self.scale)

    def render(self, frame: np.ndarray) -> np.ndarray:
        crop = frame[self.y0 : self.y0 + self.height, self.x0 : self.x0 + self.width]
        img = cv2.resize(crop, self.size, interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        x = (img.astype(np.float32) / 255.0) ** self.gamma * np.array(self.gains, np.float32)
        return np.clip(x * 255.0, 0, 255).astype(np.uint8)

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        b = np.asarray(boxes, np.float64).reshape(-1, 4) / self.scale
        return b + np.array([self.x0, self.y0, 0, 0])


CAMERAS = (
    VirtualCamera(1, 0, 80, 480, 360, 1.0, (0.85, 1.0, 1.12), 1.0),
    VirtualCamera(2, 288, 60, 480, 360, 1.25, (1.12, 1.0, 0.85), 0.9),
    VirtualCamera(3, 150, 100, 468, 351, 0.8, (1.05, 1.05, 1.05), 1.15),
)


def build_demo_scene(
    out: str | Path, frames: int = 300, source: Path = VTEST, cameras: tuple[VirtualCamera, ...] = CAMERAS
) -> Path:
    """Write ``out/scene_001`` (AIC24 layout) with one video + calibration.json per virtual camera."""
    if not source.is_file():
        raise InputError(source, "the demo video is missing; install Debian's opencv-doc (apt install opencv-doc)")
    scene = Path(out) / "scene_001"
    meta_path = scene / DEMO_META
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("frames") == frames and all(
            (scene / f"camera_{c.camera_id:04d}" / "video.mp4").is_file() for c in cameras
        ):
            return scene
    cam0 = source_camera()
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    writers = {}
    for c in cameras:
        d = scene / f"camera_{c.camera_id:04d}"
        d.mkdir(parents=True, exist_ok=True)
        calib = calibration_from_matrices(
            c.camera_id, c.affine @ cam0.homography, c.affine @ cam0.projection, image_size=c.size
        )
        write_calibration(d / "calibration.json", calib)
        writers[c.camera_id] = cv2.VideoWriter(str(d / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, c.size)
    n = 0
    while n < frames:
        ok, img = cap.read()
        if not ok:
            break
        for c in cameras:
            writers[c.camera_id].write(c.render(img))
        n += 1
    for w in writers.values():
        w.release()
    cap.release()
    meta_path.write_text(
        json.dumps({"source": str(source), "frames": n, "fps": fps, "cameras": [asdict(c) for c in cameras]}, indent=2)
    )
    return scene


@dataclass
class Consistency:
    pairs: int  # detections of one person seen by two cameras at once
    same_id: int  # ... that carry the same global id
    world_median_m: float  # median floor distance between the two cameras' own positions for them

    @property
    def same_id_share(self) -> float:
        return self.same_id / self.pairs if self.pairs else float("nan")


def consistency(scene: str | Path, rows: Rows, min_iou: float = 0.5) -> Consistency:
    """Pairs of rows from two cameras whose boxes cover the same source pixels are the same person."""
    scene = Path(scene)
    meta = json.loads((scene / DEMO_META).read_text())
    cams = {c["camera_id"]: VirtualCamera(**{**c, "gains": tuple(c["gains"])}) for c in meta["cameras"]}
    calibs = {cid: load_calibration(scene / f"camera_{cid:04d}" / "calibration.json", cid) for cid in cams}
    own_world = np.zeros((len(rows), 2))
    src_box = np.zeros((len(rows), 4))
    for cid, cam in cams.items():
        m = rows.camera == cid
        own_world[m], _ = calibs[cid].standing_points(rows.box[m], cam.size[1])
        src_box[m] = cam.to_source(rows.box[m])
    pairs = same = 0
    dists = []
    order = np.argsort(rows.frame, kind="stable")
    frames = rows.frame[order]
    bounds = np.flatnonzero(np.diff(frames)) + 1
    for idx in np.split(order, bounds):
        ids = list(cams)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                ra, rb = idx[rows.camera[idx] == a], idx[rows.camera[idx] == b]
                if not len(ra) or not len(rb):
                    continue
                iou = iou_xywh(src_box[ra], src_box[rb])
                r, c = linear_sum_assignment(-iou)
                ok = iou[r, c] >= min_iou
                for x, y in zip(ra[r[ok]], rb[c[ok]], strict=True):
                    pairs += 1
                    same += int(rows.obj[x] == rows.obj[y])
                    dists.append(float(np.linalg.norm(own_world[x] - own_world[y])))
    return Consistency(pairs, same, float(np.median(dists)) if dists else float("nan"))
