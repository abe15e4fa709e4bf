"""Record real perception into the replay format: each camera's video through the detector and ReID.

``mcpt perceive SCENE --name NAME`` writes ``camera_XXXX/perception_NAME.npz`` (what the replay
backend reads with ``mcpt track --perception NAME``): every detection above a low score with its
embedding, the detector's and ReID model's names (so the replay takes the detector's score
thresholds), and, where the scene has ground truth, the identity each detection matches. Replaying
it tries any association or threshold setting in seconds instead of re-running the models; with
``boxes="gt"`` the ground-truth boxes stand in for the detector (embedded by the same ReID model),
which separates detection errors from association errors. With a pose model, the boxes scored at
least ``pose_min_score`` get body keypoints (the others NaN: no pose estimated, as in a live run).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from mcpt.errors import InputError
from mcpt.geometry import iou_xywh
from mcpt.pose.keypoints import unknown
from mcpt.scene.layout import SceneDir
from mcpt.scene.results import Rows, read_rows

log = logging.getLogger(__name__)
GT_SCORE = 0.99  # the score of a ground-truth box standing in for a detection


@dataclass
class CameraRecord:
    camera_id: int
    frames: int
    detections: int
    path: Path


def match_ids(gt_boxes: np.ndarray, gt_ids: np.ndarray, boxes: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """Per box, the id of the ground-truth box it overlaps best one-to-one (IoU >= min_iou), else -1."""
    out = np.full(len(boxes), -1, np.int64)
    if len(gt_boxes) and len(boxes):
        iou = iou_xywh(boxes, gt_boxes)
        r, c = linear_sum_assignment(-iou)
        ok = iou[r, c] >= min_iou
        out[r[ok]] = gt_ids[c[ok]]
    return out


def record_camera(
    video: Path,
    out: Path,
    camera_id: int,
    detector,
    reid,
    detector_name: str,
    reid_name: str,
    gt: Rows | None,
    boxes: str = "detector",
    batch: int = 4,
    progress=None,
    pose=None,
    pose_min_score: float = 0.0,
    max_frames: int | None = None,
) -> CameraRecord:
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise InputError(video, "cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    acc = {"frame_id": [], "bbox": [], "score": [], "embedding": [], "gt_id": [], "keypoints": []}
    size = None
    frame_no = 0
    done = False
    while not done:
        frames = []
        while len(frames) < batch:
            if max_frames is not None and frame_no + len(frames) >= max_frames:
                done = True
                break
            ok, img = cap.read()
            if not ok:
                done = True
                break
            frames.append(img)
        if not frames:
            break
        size = (frames[0].shape[1], frames[0].shape[0])
        if boxes == "gt":
            dets = []
            for k in range(len(frames)):
                g = gt.select((gt.camera == camera_id) & (gt.frame == frame_no + k)) if gt is not None else Rows.empty()
                dets.append(np.concatenate([g.box, np.full((len(g), 1), GT_SCORE)], axis=1))
        else:
            dets = detector(frames)
        for k, (img, d) in enumerate(zip(frames, dets, strict=True)):
            f = frame_no + k
            emb = reid.embed(reid.crops(img, d[:, :4]))
            if pose is not None:
                kp = unknown(len(d))
                posed = d[:, 4] >= pose_min_score
                kp[posed] = pose.estimate([(img, d[posed, :4])])[0]
                acc["keypoints"].append(kp)
            if gt is not None:
                g = gt.select((gt.camera == camera_id) & (gt.frame == f))
                ids = match_ids(g.box, g.obj, d[:, :4])
            else:
                ids = np.full(len(d), -1, np.int64)
            acc["frame_id"].append(np.full(len(d), f, np.int32))
            acc["bbox"].append(d[:, :4].astype(np.float32))
            acc["score"].append(d[:, 4].astype(np.float32))
            acc["embedding"].append(emb.astype(np.float32))
            acc["gt_id"].append(ids.astype(np.int32))
        frame_no += len(frames)
        if progress is not None:
            progress.update(len(frames))
    cap.release()
    if frame_no == 0:
        raise InputError(video, "no frame could be decoded")
    dim = reid.dim or 1
    tmp = out.with_name(out.name + ".partial.npz")
    np.savez_compressed(
        tmp,
        frame_id=np.concatenate(acc["frame_id"]),
        bbox=np.concatenate(acc["bbox"]).reshape(-1, 4),
        score=np.concatenate(acc["score"]),
        embedding=np.concatenate(acc["embedding"]).reshape(-1, dim),
        gt_id=np.concatenate(acc["gt_id"]),
        num_frames=np.int32(frame_no),
        fps=np.float32(fps or 0),
        image_size=np.array(size, np.int32),
        detector=np.array("ground truth" if boxes == "gt" else detector_name),
        box_width_scale=np.float32(1.0 if boxes == "gt" else getattr(detector, "box_width_scale", 1.0)),
        reid=np.array(reid_name),
        **({"keypoints": np.concatenate(acc["keypoints"]).reshape(-1, 17, 3)} if pose is not None else {}),
    )
    os.replace(tmp, out)
    return CameraRecord(camera_id, frame_no, sum(len(a) for a in acc["score"]), out)


def record_scene(
    scene: SceneDir,
    name: str,
    detector,
    reid,
    detector_name: str,
    reid_name: str,
    boxes: str = "detector",
    progress=True,
    pose=None,
    pose_min_score: float = 0.0,
    max_seconds: float | None = None,
    reuse: bool = False,
) -> list[CameraRecord]:
    """Every camera of a scene recorded as perception_NAME.npz (the first max_seconds of each video
    when given). With reuse, a camera whose record was made by the same detector and ReID model over
    the same frames is kept as it is."""
    from tqdm import tqdm

    gt = read_rows(scene.ground_truth) if scene.ground_truth is not None else None
    if boxes == "gt" and gt is None:
        raise InputError(scene.path, "--boxes gt needs the scene's ground_truth.txt")
    records = []
    for cam in scene.cameras:
        if cam.video is None:
            raise InputError(cam.path, "no video to perceive (video.mp4)")
        cap = cv2.VideoCapture(str(cam.video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = cap.get(cv2.CAP_PROP_FPS) or 0
        cap.release()
        limit = round(max_seconds * fps) if max_seconds and fps > 0 else None
        out = cam.perception_file(name)
        frames = min(limit, n) if limit else n
        kept = _current_record(out, cam.camera_id, detector_name, reid_name, frames) if reuse else None
        if kept is not None:
            log.info("%s/%s: reusing %s", scene.name, cam.name, out.name)
            records.append(kept)
            continue
        total = min(limit or n, n) or None
        with tqdm(total=total, desc=f"{scene.name}/{cam.name}", unit="frame", disable=not progress, leave=False) as bar:
            records.append(
                record_camera(
                    cam.video,
                    out,
                    cam.camera_id,
                    detector,
                    reid,
                    detector_name,
                    reid_name,
                    gt,
                    boxes,
                    progress=bar,
                    pose=pose,
                    pose_min_score=pose_min_score,
                    max_frames=limit,
                )
            )
    return records


def _current_record(out: Path, camera_id: int, detector_name: str, reid_name: str, frames: int) -> CameraRecord | None:
    """The record at out when the same models made it over ``frames`` frames (0: length unknown)."""
    if not out.is_file():
        return None
    try:
        with np.load(out) as z:
            same = str(z["detector"]) == detector_name and str(z["reid"]) == reid_name
            if not same or (frames and int(z["num_frames"]) != frames):
                return None
            return CameraRecord(camera_id, int(z["num_frames"]), len(z["score"]), out)
    except (OSError, KeyError, ValueError):
        return None


def reembed_camera(video: Path, source: Path, out: Path, reid, reid_name: str, progress=None) -> CameraRecord:
    """A copy of a camera's record with every box embedded again by another ReID model (the boxes,
    scores, keypoints and matched identities unchanged): compares ReID models on the same detections
    without running the detector again."""
    if not source.is_file():
        raise InputError(source, "no such record to re-embed (mcpt perceive --name writes it)")
    with np.load(source) as z:
        data = {k: z[k] for k in z.files}
    frames = data["frame_id"].astype(np.int64)
    emb = np.zeros((len(frames), reid.dim or 1), np.float32)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise InputError(video, "cannot open this video")
    last = int(frames.max()) if len(frames) else -1
    try:
        for f in range(last + 1):
            ok, img = cap.read()
            if not ok:
                raise InputError(video, f"the video ends after {f} frames but {source.name} has boxes on frame {last}")
            rows = np.flatnonzero(frames == f)
            if len(rows):
                emb[rows] = reid.embed(reid.crops(img, data["bbox"][rows]))
            if progress is not None:
                progress.update(1)
    finally:
        cap.release()
    data["embedding"] = emb
    data["reid"] = np.array(reid_name)
    tmp = out.with_name(out.name + ".partial.npz")
    np.savez_compressed(tmp, **data)
    os.replace(tmp, out)
    return CameraRecord(int(out.parent.name.split("_")[-1]), int(data["num_frames"]), len(frames), out)
