"""``mcpt train detector``: Ultralytics training on a YOLO dataset, offline, then mcpt's own export.

Starts from models.yaml's detector weights (or ``--model``). When the dataset has one class and the
starting model several (the shipped detector's classes are Normal and Fall, both people), the labels
go to the model's first class through a derived data.yaml, so its detection head is fine-tuned
rather than replaced by an untrained one. Validation (precision, recall, mAP50 on the dataset's
val split) is run before and after; the result is exported with ``mcpt export detector``'s code
and described for models.yaml with the starting entry's settings: its box width correction is
dropped (the new boxes were taught on ground-truth boxes) and its operating points kept until
``mcpt calibrate-detector`` gives new ones.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mcpt.errors import InputError
from mcpt_export.detector import _offline_ultralytics, export_detector, open_yolo
from mcpt_export.torch_utils import require_torch


@dataclass
class DetectorTrainOptions:
    model: Path | None = None
    epochs: int = 30  # the reference's
    imgsz: int = 640
    batch: int = 16
    device: str = "auto"
    max_steps: int | None = None  # train on this many batches' worth of images only (smoke runs)
    workers: int = 0


@dataclass
class ValScores:
    precision: float
    recall: float
    map50: float
    map50_95: float

    def line(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, mAP50 {self.map50:.3f}, "
            f"mAP50-95 {self.map50_95:.3f}"
        )


@dataclass
class DetectorTrainResult:
    onnx: Path
    weights: Path
    base: str
    before: ValScores | None
    after: ValScores | None
    epochs: int
    seconds: float
    parity: float
    base_entry: dict = field(default_factory=dict)
    imgsz: int = 640

    def lines(self) -> list[str]:
        out = [f"fine-tuned {self.base} for {self.epochs} epochs in {self.seconds:.0f} s"]
        if self.before is not None and self.after is not None:
            out += [f"  val before: {self.before.line()}", f"  val after:  {self.after.line()}"]
        out.append(f"wrote {self.onnx} (ONNX Runtime vs torch max |diff| {self.parity:.2e}) and {self.weights}")
        return out

    def manifest_entry(self) -> dict:
        from mcpt.models.register import manifest_path_of

        e = {k: v for k, v in self.base_entry.items() if k not in ("source", "onnx", "box_width_scale")}
        e["source"] = {"path": manifest_path_of(self.weights)}
        e["onnx"] = manifest_path_of(self.onnx)
        e.setdefault("input", {})
        e["input"] = dict(e["input"], width=self.imgsz, height=self.imgsz)
        return e


def _torchvision_stand_in() -> None:
    """``make install-export`` installs torchvision for its version string only: its compiled operators
    need the CUDA torch stack, so on the CPU torch it does not import. Ultralytics' validator imports it
    and then calls ``torchvision.ops.nms``; where it does not import, a stand-in module gives that
    name Ultralytics' own torch NMS (documented to match torchvision's)."""
    try:
        import torchvision  # noqa: F401

        return
    except Exception:
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    from ultralytics.utils.nms import TorchNMS

    stand_in = types.ModuleType("torchvision")
    stand_in.__version__ = "0.0-stand-in"
    stand_in.ops = types.SimpleNamespace(nms=TorchNMS.nms)
    sys.modules["torchvision"] = stand_in


def base_model() -> tuple[Path, dict, str]:
    """models.yaml's detector: its weights file, its entry as written, its name."""
    from mcpt.models.manifest import load_manifest
    from mcpt_export.models import source_file

    manifest = load_manifest()
    spec = manifest.detector
    src = source_file(spec)
    if src is None:
        raise InputError(manifest.path, f"the detector {spec.name} has no weights at hand", field="detector")
    entry = (yaml.safe_load(manifest.path.read_text()) or {})["models"][spec.name]
    return src, entry, spec.name


def derived_data(data: Path, names: dict[int, str], tmp: Path) -> Path:
    """data.yaml with the starting model's class names when the dataset's one class is a person."""
    if not data.is_file():
        raise InputError(data, "data.yaml not found (mcpt prepare writes it when the dataset is complete)")
    try:
        d = yaml.safe_load(data.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(data, f"not YAML ({e})") from None
    for key in ("train", "val", "names"):
        if key not in d:
            raise InputError(data, "missing", field=key)
    root = Path(d.get("path") or data.parent)
    if not root.is_absolute():
        root = (data.parent / root).resolve()
    d["path"] = str(root)
    for key in ("train", "val"):
        if not (root / d[key]).is_dir() or not any((root / d[key]).iterdir()):
            raise InputError(data, f"{root / d[key]} holds no images", field=key)
    own = d["names"]
    if len(own) == 1 and len(names) > 1:
        d["names"] = {int(k): str(v) for k, v in names.items()}
    out = tmp / "data.yaml"
    out.write_text(yaml.safe_dump(d))
    return out


def _val(model, data: Path, opts: DetectorTrainOptions, device, project: Path) -> ValScores:
    r = model.val(
        data=str(data), imgsz=opts.imgsz, batch=opts.batch, device=device, plots=False, workers=opts.workers,
        project=str(project), name="val", exist_ok=True, verbose=False, single_cls=True,
    )  # fmt: skip
    b = r.box
    return ValScores(float(b.mp), float(b.mr), float(b.map50), float(b.map))


def train_detector(data: Path, out: Path, opts: DetectorTrainOptions, progress: bool = True) -> DetectorTrainResult:
    torch = require_torch()
    t0 = time.perf_counter()
    _offline_ultralytics()
    _torchvision_stand_in()
    if opts.model is not None:
        src, entry, base = opts.model, {"role": "detector", "architecture": "yolov8"}, opts.model.name
        if not src.is_file():
            raise InputError(src, "starting weights not found", field="--model")
    else:
        src, entry, base = base_model()
    device = opts.device
    if device == "auto":
        device = "0" if torch.cuda.is_available() else "cpu"
    project = Path(tempfile.mkdtemp(prefix="mcpt-train-det-"))
    try:
        model = open_yolo(src, "detect", "detection")
        names = dict(model.names)
        ds = derived_data(data, names, project)
        before = _val(model, ds, opts, device, project)
        n_train = _count_train_images(ds)
        fraction = 1.0
        if opts.max_steps is not None:
            fraction = min(1.0, opts.max_steps * opts.batch / max(n_train, 1))
        model = open_yolo(src, "detect", "detection")
        model.train(
            data=str(ds), epochs=opts.epochs, imgsz=opts.imgsz, batch=opts.batch, device=device,
            workers=opts.workers, project=str(project), name="train", exist_ok=True, plots=False,
            amp=device != "cpu", fraction=fraction, verbose=progress, seed=0, deterministic=True,
        )  # fmt: skip
        best = project / "train" / "weights" / "best.pt"
        if not best.is_file():
            best = project / "train" / "weights" / "last.pt"
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        weights = out.with_suffix(".pt")
        shutil.copyfile(best, weights)
        after = _val(open_yolo(weights, "detect", "detection"), ds, opts, device, project)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    classes = tuple(entry.get("person_classes") or ()) or None
    r = export_detector(weights, out, imgsz=opts.imgsz, classes=classes, person_score=entry.get("person_score", "max"))
    return DetectorTrainResult(
        out, weights, base, before, after, opts.epochs, time.perf_counter() - t0, r.max_abs_diff, entry, opts.imgsz
    )


def _count_train_images(data_yaml: Path) -> int:
    d = yaml.safe_load(data_yaml.read_text())
    folder = Path(d["path"]) / d["train"]
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
