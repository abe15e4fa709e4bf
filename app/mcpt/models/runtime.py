"""The runtime's models from the manifest (or files the user names): detector and ReID on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

from mcpt.config import Config
from mcpt.models.detector import PersonDetector
from mcpt.models.manifest import load_manifest
from mcpt.models.reid import ReIDModel


def load_models(
    cfg: Config, detector: str | Path | None = None, reid: str | Path | None = None, threads: int | None = None
) -> tuple[PersonDetector, ReIDModel]:
    manifest = load_manifest()
    d, r = manifest.detector, manifest.reid
    det = PersonDetector(
        detector or d.onnx,
        d.width,
        d.height,
        cfg.detector.conf_thresh,
        cfg.detector.nms_iou,
        d.person_classes or None,
        threads,
    )
    return det, ReIDModel(reid or r.onnx, r.width, r.height, threads=threads, crop_width=cfg.reid.crop_width)
