"""The runtime's models from the manifest (or files the user names): detector, ReID and pose on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.models.detector import PersonDetector
from mcpt.models.manifest import load_manifest
from mcpt.models.pose import PoseModel
from mcpt.models.reid import ReIDModel


def load_models(
    cfg: Config, detector: str | Path | None = None, reid: str | Path | None = None, threads: int | None = None
) -> tuple[PersonDetector, ReIDModel]:
    """The detector and the ReID model: the manifest's, or the files given. A given detector file takes its
    manifest entry's settings where it has one; otherwise the default entry's input and classes and no
    box correction (nothing was measured for it)."""
    manifest = load_manifest()
    known = manifest.detector if detector is None else manifest.detector_for(detector)
    d, r = known or manifest.detector, manifest.reid
    det = PersonDetector(
        detector or d.onnx,
        d.width,
        d.height,
        cfg.detector.conf_thresh,
        cfg.detector.nms_iou,
        d.person_classes or None,
        threads,
        box_width_scale=known.box_width_scale if known is not None else 1.0,
    )
    return det, ReIDModel(reid or r.onnx, r.width, r.height, threads=threads)


def load_pose(cfg: Config, pose: str | Path | None = None, threads: int | None = None) -> PoseModel | None:
    """The pose model when ``pose.enabled``: the file given, or the manifest's pose entry; None when disabled."""
    if not cfg.pose.enabled:
        return None
    if pose is not None:
        return PoseModel(pose, threads=threads)
    manifest = load_manifest()
    spec = manifest.pose
    if spec is None:
        raise InputError(manifest.path, "no pose model in the manifest; give one: --pose FILE", field="pose")
    if not spec.onnx.is_file():
        raise InputError(spec.onnx, f"pose model {spec.name} not exported; run `make models`")
    return PoseModel(spec.onnx, spec.width, spec.height, threads=threads)
