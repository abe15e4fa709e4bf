"""``models/models.yaml``: each model's role, source, input, normalisation, outputs and file locations."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mcpt.config import OperatingPoints
from mcpt.errors import InputError

ROLES = ("detector", "reid", "pose")
OPERATING_POINT_KEYS = ("track_high", "track_low", "new_track", "cluster_min_score")


def repo_root() -> Path:
    """The checkout this package runs from (models/ and deepstream_configs/ live there).

    ``MCPT_HOME`` overrides it, for installs outside a checkout (e.g. a container image).
    """
    home = os.environ.get("MCPT_HOME")
    return Path(home) if home else Path(__file__).resolve().parents[3]


def default_manifest_path() -> Path:
    return repo_root() / "models" / "models.yaml"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    architecture: str
    source: dict
    width: int
    height: int
    onnx: Path
    letterbox: bool = False
    normalize: dict = field(default_factory=dict)
    person_classes: tuple[int, ...] = ()
    class_names: tuple[str, ...] = ()
    embedding_dim: int | None = None
    output: dict = field(default_factory=dict)
    operating_points: OperatingPoints | None = None  # detectors: score thresholds that fit the model
    person_score: str = "max"  # detectors: how the person classes' scores combine (max or any)
    # detectors: their boxes' widths are multiplied by this (about the centre) to fit the person, as measured
    # by mcpt calibrate-detector; a box wider than the person mixes background and neighbours into the
    # ReID crop (the bottom-centre, hence the floor position, does not move)
    box_width_scale: float = 1.0
    # ReID models: the factor on the association's appearance thresholds that fits this model's distances
    # (mcpt calibrate-reid); 1 = the reference model's scale
    appearance_scale: float = 1.0

    @property
    def source_path(self) -> Path | None:
        p = self.source.get("path")
        return (repo_root() / p) if p and not Path(p).is_absolute() else (Path(p) if p else None)


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: dict[str, ModelSpec]
    default_detector: str
    default_reid: str
    default_pose: str | None = None  # optional: the pose model of --pose / pose.enabled

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise InputError(
                self.path, f"no model {name!r}; expected one of {', '.join(sorted(self.models))}", field="models"
            )
        return self.models[name]

    @property
    def detector(self) -> ModelSpec:
        return self.get(self.default_detector)

    def detector_for(self, onnx: str | Path) -> ModelSpec | None:
        """The detector entry whose ONNX file is ``onnx`` (None: a file the manifest does not describe)."""
        path = Path(onnx).resolve()
        return next((m for m in self.models.values() if m.role == "detector" and m.onnx.resolve() == path), None)

    @property
    def reid(self) -> ModelSpec:
        return self.get(self.default_reid)

    def reid_for(self, name: str | Path) -> ModelSpec | None:
        """The ReID entry named ``name``, or whose ONNX file is ``name`` or has its stem (what `mcpt perceive`
        records); None: a model the manifest does not describe."""
        spec = self.models.get(str(name))
        if spec is not None and spec.role == "reid":
            return spec
        stem = Path(name).stem
        return next((m for m in self.models.values() if m.role == "reid" and m.onnx.stem == stem), None)

    @property
    def pose(self) -> ModelSpec | None:
        return self.get(self.default_pose) if self.default_pose else None


def _req(d: dict, key: str, source: Path, name: str, kind: type = str):
    if key not in d:
        raise InputError(source, "missing", field=f"models.{name}.{key}")
    v = d[key]
    if kind is int and not isinstance(v, int):
        raise InputError(source, f"expected an integer, got {v!r}", field=f"models.{name}.{key}")
    return v


def _choice(v, allowed: tuple[str, ...], source: Path, where: str) -> str:
    if v not in allowed:
        raise InputError(source, f"expected one of {', '.join(allowed)}, got {v!r}", field=where)
    return v


def _scale(v, source: Path, where: str, low: float = 0.3, high: float = 2.0) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
        raise InputError(source, f"expected a factor between {low:g} and {high:g}, got {v!r}", field=where)
    return float(v)


def _operating_points(d, source: Path, name: str) -> OperatingPoints | None:
    if d is None:
        return None
    where = f"models.{name}.operating_points"
    if not isinstance(d, dict) or set(d) - set(OPERATING_POINT_KEYS) or set(OPERATING_POINT_KEYS) - set(d):
        raise InputError(source, f"expected the keys {', '.join(OPERATING_POINT_KEYS)}", field=where)
    for k, v in d.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise InputError(source, f"expected a score between 0 and 1, got {v!r}", field=f"{where}.{k}")
    return OperatingPoints(**{k: float(v) for k, v in d.items()})


def detector_operating_points(manifest: Manifest, onnx: str | Path | None = None) -> tuple[OperatingPoints, str]:
    """The operating points of the detector in use (the manifest's default, or the entry whose ONNX file
    ``onnx`` is), and where they come from; the reference's where the manifest has none for it."""
    from mcpt.config import REFERENCE_OPERATING_POINTS

    spec = manifest.detector if onnx is None else manifest.detector_for(onnx)
    if spec is None or spec.operating_points is None:
        name = spec.name if spec is not None else str(onnx)
        return REFERENCE_OPERATING_POINTS, f"the reference's (no operating points for {name}; mcpt calibrate-detector)"
    return spec.operating_points, f"models.yaml {spec.name}"


def reid_appearance_scale(manifest: Manifest, reid: str | Path | None = None) -> tuple[float, str]:
    """The appearance scale of a ReID model: ``reid`` names a manifest entry, its ONNX file, or that file's stem
    (what `mcpt perceive` records); None is the manifest's default. 1 for a model the manifest does not know."""
    spec = manifest.reid if reid is None else manifest.reid_for(reid)
    if spec is None:
        return 1.0, f"the reference's (no models.yaml entry for {reid}; mcpt calibrate-reid)"
    return spec.appearance_scale, f"models.yaml {spec.name}"


def load_manifest(path: str | Path | None = None) -> Manifest:
    import yaml

    path = Path(path) if path else default_manifest_path()
    if not path.is_file():
        raise InputError(path, "model manifest not found")
    data = yaml.safe_load(path.read_text()) or {}
    root = repo_root()
    models = {}
    for name, d in (data.get("models") or {}).items():
        if not isinstance(d, dict):
            raise InputError(path, "expected a mapping", field=f"models.{name}")
        role = _req(d, "role", path, name)
        if role not in ROLES:
            raise InputError(path, f"expected one of {', '.join(ROLES)}, got {role!r}", field=f"models.{name}.role")
        inp = _req(d, "input", path, name)
        source = _req(d, "source", path, name)
        if not isinstance(source, dict) or not ({"path", "package"} & set(source)):
            raise InputError(
                path, "expected {path: FILE} or {package: NAME==VERSION, file: PATH}", field=f"models.{name}.source"
            )
        if "quantize" in source and (source["quantize"] != "int8" or role != "detector"):
            raise InputError(path, "expected int8 (detectors only)", field=f"models.{name}.source.quantize")
        models[name] = ModelSpec(
            name=name,
            role=role,
            architecture=_req(d, "architecture", path, name),
            source=source,
            width=_req(inp, "width", path, f"{name}.input", int),
            height=_req(inp, "height", path, f"{name}.input", int),
            letterbox=bool(inp.get("letterbox", False)),
            onnx=root / _req(d, "onnx", path, name),
            normalize=d.get("normalize") or {},
            person_classes=tuple(d.get("person_classes") or ()),
            class_names=tuple(d.get("class_names") or ()),
            embedding_dim=d.get("embedding_dim"),
            output=d.get("output") or {},
            operating_points=_operating_points(d.get("operating_points"), path, name),
            person_score=_choice(d.get("person_score", "max"), ("max", "any"), path, f"models.{name}.person_score"),
            box_width_scale=_scale(d.get("box_width_scale", 1.0), path, f"models.{name}.box_width_scale"),
            appearance_scale=_scale(d.get("appearance_scale", 1.0), path, f"models.{name}.appearance_scale", 0.5, 5.0),
        )
    for key in ("detector", "reid"):
        if data.get(key) not in models:
            raise InputError(path, f"expected the name of a model below, got {data.get(key)!r}", field=key)
    pose = data.get("pose")
    if pose is not None and (pose not in models or models[pose].role != "pose"):
        raise InputError(path, f"expected the name of a pose model below, got {pose!r}", field="pose")
    return Manifest(path, models, data["detector"], data["reid"], pose)
