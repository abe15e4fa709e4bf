"""A detector's operating points from its scores on people: recall and precision against ground truth per threshold.

Input: scenes with ground truth whose videos went through the detector once (``mcpt perceive``:
every detection above a low score, each matched one-to-one to a ground-truth box at IoU >= 0.5).
The rule that turns the curve into the single-camera tracker's and the clustering's thresholds:

* ``track_high`` (and ``cluster_min_score``): the threshold with the best F1, where the detections
  the tracker matches on appearance are as complete and as clean as this detector allows;
* ``new_track``: the lowest threshold at or above it whose detections are ``NEW_TRACK_PRECISION``
  precise: a new local track should rarely be a false positive;
* ``track_low``: the lowest threshold whose detections are ``LOW_PRECISION`` precise: below it a
  box extending a track is more often something else.

The reference method's 0.6 / 0.1 / 0.7 came out of the same trade-off for its fine-tuned YOLOv8x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.config import OperatingPoints
from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir
from mcpt.scene.results import read_rows

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
NEW_TRACK_PRECISION = 0.9
LOW_PRECISION = 0.5


@dataclass
class ScoreCurve:
    thresholds: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    gt_boxes: int
    tp_scores: np.ndarray  # scores of the detections that match a person
    width_ratio: np.ndarray  # per match: detection width / true width
    bottom_offset: np.ndarray  # per match: (detection bottom - true bottom) / true height
    centre_offset: np.ndarray  # per match: (detection centre x - true centre x) / true width
    recorded_width_scale: float = 1.0  # the box width correction the recording already applied

    @property
    def box_width_scale(self) -> float:
        """The correction that makes the detector's boxes as wide as the people (median over matches)."""
        if not len(self.width_ratio):
            return self.recorded_width_scale
        return float(np.clip(self.recorded_width_scale / np.median(self.width_ratio), 0.3, 2.0))

    @property
    def f1(self) -> np.ndarray:
        return 2 * self.recall * self.precision / np.maximum(self.recall + self.precision, 1e-9)


def score_curve(scenes: list[SceneDir], perception: str, min_height: float = 0.0) -> ScoreCurve:
    """Recall and precision per threshold, over every camera of ``scenes`` (ground-truth boxes at least
    ``min_height`` pixels tall; detections of shorter people count neither way)."""
    from mcpt.backends.replay import load_perception

    tp_scores, fp_scores, n_gt = [], [], 0
    ratios, bottoms, centres, scales = [], [], [], set()
    for scene in scenes:
        if scene.ground_truth is None:
            raise InputError(scene.path, "calibrating a detector needs the scene's ground_truth.txt")
        gt = read_rows(scene.ground_truth)
        for cam in scene.cameras:
            path = cam.perception_file(perception)
            p = load_perception(path, cam.camera_id)
            with np.load(path) as z:
                scales.add(float(z["box_width_scale"]) if "box_width_scale" in z.files else 1.0)
            if p.gt_id is None:
                raise InputError(cam.perception_file(perception), "no gt_id: record it with `mcpt perceive`")
            g = gt.select((gt.camera == cam.camera_id) & (gt.frame < p.num_frames))
            tall = g.box[:, 3] >= min_height
            n_gt += int(tall.sum())
            short_ids = {(int(f), int(o)) for f, o in zip(g.frame[~tall], g.obj[~tall], strict=True)}
            matched = p.gt_id >= 0
            of_short = np.array(
                [(int(f), int(o)) in short_ids for f, o in zip(p.frame_id, p.gt_id, strict=True)], bool
            ).reshape(-1)
            tp_scores.append(p.score[matched & ~of_short])
            fp_scores.append(p.score[~matched & (p.bbox[:, 3] >= min_height)])
            true_box = {(int(f), int(o)): b for f, o, b in zip(g.frame, g.obj, g.box, strict=True)}
            for i in np.flatnonzero(matched & ~of_short):
                t, d = true_box[(int(p.frame_id[i]), int(p.gt_id[i]))], p.bbox[i]
                ratios.append(d[2] / t[2])
                bottoms.append((d[1] + d[3] - t[1] - t[3]) / t[3])
                centres.append((d[0] + d[2] / 2 - t[0] - t[2] / 2) / t[2])
    tp = np.concatenate(tp_scores) if tp_scores else np.zeros(0)
    fp = np.concatenate(fp_scores) if fp_scores else np.zeros(0)
    if not n_gt:
        raise InputError(None, "no ground-truth boxes to calibrate against")
    n_tp = np.array([(tp >= t).sum() for t in THRESHOLDS], np.float64)
    n_fp = np.array([(fp >= t).sum() for t in THRESHOLDS], np.float64)
    if len(scales) > 1:
        raise InputError(None, f"the recordings used different box width corrections {sorted(scales)}; record again")
    return ScoreCurve(
        THRESHOLDS,
        n_tp / n_gt,
        n_tp / np.maximum(n_tp + n_fp, 1),
        n_gt,
        tp,
        np.array(ratios),
        np.array(bottoms),
        np.array(centres),
        scales.pop() if scales else 1.0,
    )


def choose_operating_points(curve: ScoreCurve) -> OperatingPoints:
    t, p = curve.thresholds, curve.precision
    high = float(t[int(np.argmax(curve.f1))])
    precise = (p >= NEW_TRACK_PRECISION) & (t >= high)
    new = float(t[np.argmax(precise)]) if precise.any() else min(high + 0.1, float(t[-1]))
    low_ok = p >= LOW_PRECISION
    low = float(t[np.argmax(low_ok)]) if low_ok.any() else high
    return OperatingPoints(track_high=high, track_low=min(low, high), new_track=new, cluster_min_score=high)


def write_operating_points(
    manifest: Path, model: str, op: OperatingPoints, note: str, box_width_scale: float | None = None
) -> None:
    """Set ``models.<model>.operating_points`` (and ``box_width_scale``) in the manifest, keeping its
    comments and layout."""
    block = [
        f"    # operating points: {note}\n",
        "    operating_points: {"
        + ", ".join(f"{k}: {getattr(op, k):.2f}" for k in ("track_high", "track_low", "new_track", "cluster_min_score"))
        + "}\n",
    ]
    if box_width_scale is not None:
        block.append(f"    box_width_scale: {box_width_scale:.3f}\n")
    ours = ("    operating_points:", "    # operating points", *(("    box_width_scale:",) if box_width_scale else ()))
    replace_entry_keys(manifest, model, block, ours)


def replace_entry_keys(manifest: Path, model: str, block: list[str], ours: tuple[str, ...]) -> None:
    """Append ``block`` (indented lines) to the entry ``models.<model>``, first removing its lines that start
    with one of ``ours``; everything else in the file stays as it was."""
    manifest = Path(manifest)
    lines = manifest.read_text().splitlines(keepends=True)
    head = re.compile(rf"^  {re.escape(model)}:\s*$")
    start = next((i for i, line in enumerate(lines) if head.match(line)), None)
    if start is None:
        raise InputError(manifest, f"no model {model!r}", field="models")
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^  \S", lines[i]) or not lines[i].strip()), len(lines)
    )
    kept = [line for line in lines[start + 1 : end] if not line.startswith(ours)]
    manifest.write_text("".join([*lines[: start + 1], *kept, *block, *lines[end:]]))
