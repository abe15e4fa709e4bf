"""``mcpt prepare``: stream each camera's video once and write the planned detector frames, their
YOLO labels and the ReID crops.

Resumable and never complete-looking when it is not: ``OUT/.mcpt-prepare.json`` holds the plan's
digest and the cameras already written; a camera is marked done only after its last file is in
place (every file is written under a temporary name and renamed), and ``det/data.yaml`` and
``reid/dataset.json`` (what the trainers look for) are written only once every camera is done.
Run the same command again after an interruption and it carries on with the first camera not done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mcpt.datasets.market import COMPLETE_NAME, FOLDERS, GALLERY, QUERY, TRAIN, crop_name
from mcpt.datasets.plan import (
    CameraPlan,
    PrepareOptions,
    plan_crops,
    plan_scene_cameras,
    scene_number,
    split_identities,
)
from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir, discover_scenes
from mcpt.scene.results import read_rows

log = logging.getLogger(__name__)
STATE_NAME = ".mcpt-prepare.json"
STATE_VERSION = 1
JPEG_QUALITY = 95


@dataclass
class PrepareSummary:
    out: Path
    cameras: int
    det_images: dict[str, int]
    det_labels: int
    dropped_boxes: int
    reid_identities: dict[str, int]
    reid_crops: dict[str, int]
    frames_decoded: int
    seconds: float
    resumed_cameras: int

    def lines(self) -> list[str]:
        out = [f"{self.out}: {self.cameras} cameras, {self.frames_decoded} frames decoded in {self.seconds:.0f} s"]
        if self.resumed_cameras:
            out.append(f"  resumed: {self.resumed_cameras} cameras were already written")
        if self.det_images:
            out.append(
                f"  detector: {self.det_images.get('train', 0)} train + {self.det_images.get('val', 0)} val images, "
                f"{self.det_labels} boxes ({self.dropped_boxes} ground-truth boxes outside the image dropped) "
                f"-> {self.out / 'det' / 'data.yaml'}"
            )
        if self.reid_crops:
            out.append(
                f"  reid: {self.reid_identities.get('train', 0)} train identities ({self.reid_crops.get(TRAIN, 0)} "
                f"crops), {self.reid_identities.get('test', 0)} test identities ({self.reid_crops.get(QUERY, 0)} "
                f"query, {self.reid_crops.get(GALLERY, 0)} gallery) -> {self.out / 'reid'}"
            )
        return out


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_jpeg(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InputError(path, "could not encode the image")
    write_atomic(path, buf.tobytes())


def cut_crop(img: np.ndarray, box: np.ndarray, min_w: int = 1, min_h: int = 1) -> np.ndarray | None:
    """The pixels of an (x, y, w, h) box, clipped to the image, rounded outwards; None when the part
    inside the image is smaller than min_w x min_h."""
    h, w = img.shape[:2]
    x, y, bw, bh = (float(v) for v in box[:4])
    x1, y1 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x2, y2 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x2 - x1 < min_w or y2 - y1 < min_h:
        return None
    return img[y1:y2, x1:x2]


def video_size(video: Path) -> tuple[int, int]:
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise InputError(video, "cannot open this video")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        raise InputError(video, "the video reports no frame size")
    return w, h


def yolo_label_lines(boxes: np.ndarray, size: tuple[int, int]) -> str:
    w, h = size
    return "".join(
        f"0 {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}\n" for x, y, bw, bh in boxes
    )


class PrepareState:
    """The resume record: which plan the folder holds and which cameras are written."""

    def __init__(self, out: Path, digest: str) -> None:
        self.path = out / STATE_NAME
        self.digest = digest
        self.done: set[str] = set()
        self.complete = False
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except ValueError:
                raise InputError(self.path, "unreadable resume record; delete the folder and prepare again") from None
            if data.get("plan") != digest:
                raise InputError(
                    out, "holds a dataset prepared from other scenes or options; give another --out or delete it"
                )
            self.done = set(data.get("done", []))
            self.complete = bool(data.get("complete"))
        elif out.is_dir() and any(out.iterdir()):
            raise InputError(out, "is not empty and holds no mcpt prepare record; give an empty or new --out")

    def save(self) -> None:
        data = {"version": STATE_VERSION, "plan": self.digest, "done": sorted(self.done), "complete": self.complete}
        write_atomic(self.path, json.dumps(data, indent=1).encode())


def plan_digest(scenes: list[SceneDir], opts: PrepareOptions) -> str:
    h = hashlib.sha256(json.dumps(asdict(opts), sort_keys=True).encode())
    for s in scenes:
        for p in [s.ground_truth] + [c.video for c in s.cameras]:
            if p is not None:
                st = p.stat()
                h.update(f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def stream_frames(video: Path, needed: list[int], until: int, progress=None):
    """(frame number, BGR image) of the ``needed`` frames, decoding every frame up to ``until`` once;
    an error when the video ends sooner (a truncated file would otherwise lose the end of its labels)."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise InputError(video, "cannot open this video")
    want = set(needed)
    try:
        for f in range(until + 1):
            if not cap.grab():
                raise InputError(video, f"the video ends after {f} frames but its ground truth runs to frame {until}")
            if progress is not None:
                progress.update(1)
            if f in want:
                ok, img = cap.retrieve()
                if not ok:
                    raise InputError(video, f"frame {f} could not be decoded")
                yield f, img
    finally:
        cap.release()


def write_camera(plan: CameraPlan, out: Path, progress=None) -> int:
    """Every file of one camera; the number of frames decoded."""
    stem_cam = f"{plan.scene.name}_c{plan.camera_id:04d}"
    scene_no = scene_number(plan.scene)
    until = max(plan.last_gt_frame, max(plan.frames_needed, default=0))
    decoded = 0
    for f, img in stream_frames(plan.video, plan.frames_needed, until, progress):
        decoded = f + 1
        split = plan.det_frames.get(f)
        if split is not None:
            name = f"{stem_cam}_{f:06d}"
            write_jpeg(out / "det" / "images" / split / f"{name}.jpg", img)
            write_atomic(
                out / "det" / "labels" / split / f"{name}.txt",
                yolo_label_lines(plan.labels.get(f, np.zeros((0, 4))), plan.image_size).encode(),
            )
        for k, job in enumerate(plan.crops.get(f, ())):
            crop = cut_crop(img, job.box)
            if crop is not None:
                write_jpeg(out / "reid" / job.folder / crop_name(job.person, plan.camera_id, scene_no, f, k), crop)
    return max(decoded, until + 1)


def count_files(folder: Path, suffix: str) -> int:
    return sum(1 for p in folder.iterdir() if p.suffix == suffix) if folder.is_dir() else 0


def prepare(source: str | Path, out: str | Path, opts: PrepareOptions, progress: bool = True) -> PrepareSummary:
    from tqdm import tqdm

    opts.check()
    out = Path(out)
    t0 = time.perf_counter()
    scenes = discover_scenes(source)
    plans: list[CameraPlan] = []
    gts = {}
    for scene in scenes:
        if scene.ground_truth is None:
            raise InputError(scene.path, "no ground_truth.txt: mcpt prepare needs labelled scenes")
        gt = read_rows(scene.ground_truth)
        gts[scene.name] = gt
        sizes = {c.camera_id: video_size(c.video) for c in scene.cameras if c.video is not None}
        plans += plan_scene_cameras(scene, gt, opts, sizes)
    if not plans:
        raise InputError(source, "no camera has ground-truth rows: nothing to prepare")
    identities = {}
    if "reid" in opts.what:
        keys = sorted(
            {
                (p.scene.name, int(o))
                for p in plans
                for o in np.unique(gts[p.scene.name].obj[gts[p.scene.name].camera == p.camera_id]).tolist()
            }
        )
        identities = {(i.scene, i.obj): i for i in split_identities(keys, opts.test_share, opts.seed)}
        for scene in scenes:
            plan_crops(scene, gts[scene.name], [p for p in plans if p.scene is scene], identities, opts)
        _check_reid_split(plans, opts, source)
    if "det" in opts.what:
        _check_det_split(plans, opts, source)

    out.mkdir(parents=True, exist_ok=True)
    state = PrepareState(out, plan_digest(scenes, opts))
    resumed = len(state.done)
    decoded = 0
    if not state.complete:
        todo = [p for p in plans if p.key not in state.done]
        total = sum(max(p.last_gt_frame, max(p.frames_needed, default=0)) + 1 for p in todo)
        with tqdm(total=total, unit="frame", desc="prepare", disable=not progress) as bar:
            for plan in todo:
                bar.set_description(plan.key)
                decoded += write_camera(plan, out, bar)
                state.done.add(plan.key)
                state.save()
        _write_markers(out, plans, identities, opts)
        state.complete = True
        state.save()
    return _summary(out, plans, identities, decoded, time.perf_counter() - t0, resumed)


def _check_reid_split(plans: list[CameraPlan], opts: PrepareOptions, source) -> None:
    folders = {j.folder for p in plans for jobs in p.crops.values() for j in jobs}
    if opts.test_share < 1 and TRAIN not in folders:
        raise InputError(
            source, "the ReID training split is empty (no identity has a usable crop)", field="--test-share"
        )
    if opts.test_share > 0 and QUERY not in folders:
        raise InputError(
            source, "the ReID test split is empty (no held-out identity has a usable crop)", field="--test-share"
        )


def _check_det_split(plans: list[CameraPlan], opts: PrepareOptions, source) -> None:
    splits = {s for p in plans for s in p.det_frames.values()}
    if "train" not in splits:
        raise InputError(source, "the detector's training split is empty", field="--val-share")
    if opts.val_share > 0 and "val" not in splits:
        raise InputError(
            source, "the detector's validation split is empty (too few frames: lower --every)", field="--every"
        )


def _write_markers(out: Path, plans: list[CameraPlan], identities: dict, opts: PrepareOptions) -> None:
    if "det" in opts.what:
        det = out / "det"
        val = "images/val" if opts.val_share > 0 else "images/train"
        text = (
            "# written by mcpt prepare: YOLO detection dataset, one class (person)\n"
            f"path: {det.resolve()}\ntrain: images/train\nval: {val}\nnames:\n  0: person\n"
        )
        write_atomic(det / "data.yaml", text.encode())
    if "reid" in opts.what:
        reid = out / "reid"
        for folder in FOLDERS:
            (reid / folder).mkdir(parents=True, exist_ok=True)
        rows = ["person,scene,obj_id,split"] + [f"{i.person},{i.scene},{i.obj},{i.split}" for i in identities.values()]
        write_atomic(reid / "identities.csv", ("\n".join(rows) + "\n").encode())
        info = {
            "layout": "Market-1501",
            "names": "PPPP_cCsS_FFFFFF_NN.jpg: person, camera, scene, frame, crop index",
            "options": asdict(opts),
            "crops": {f: count_files(reid / f, ".jpg") for f in FOLDERS},
        }
        write_atomic(reid / COMPLETE_NAME, json.dumps(info, indent=1).encode())


def _summary(out: Path, plans, identities, decoded: int, seconds: float, resumed: int) -> PrepareSummary:
    det = out / "det"
    det_images = {s: count_files(det / "images" / s, ".jpg") for s in ("train", "val") if (det / "images" / s).is_dir()}
    labels = 0
    for s in det_images:
        for p in (det / "labels" / s).glob("*.txt"):
            labels += sum(1 for _ in p.open())
    split_counts: dict[str, int] = {}
    for i in identities.values():
        split_counts[i.split] = split_counts.get(i.split, 0) + 1
    reid = out / "reid"
    crops = {f: count_files(reid / f, ".jpg") for f in FOLDERS} if identities else {}
    return PrepareSummary(
        out,
        len(plans),
        det_images,
        labels,
        sum(p.dropped_boxes for p in plans),
        split_counts,
        crops,
        decoded,
        seconds,
        resumed,
    )
