"""``mcpt export reid``: a ReID architecture + checkpoint -> ONNX (RGB 0..255 in, L2-normalised embedding out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.errors import InputError
from mcpt_export.torch_utils import export_onnx, load_into, load_state_dict, require_torch

DEFAULT_SIZES = {"resnet50_ibn": (384, 128), "osnet_x1_0": (256, 128), "mobilenetv2": (256, 128)}
INPUT_NAME, OUTPUT_NAME = "images", "embedding"


@dataclass
class ReIDExportResult:
    path: Path
    arch: str
    height: int
    width: int
    dim: int
    max_abs_diff: float  # ONNX Runtime vs torch on the same random batch


def build_net(arch: str, weights: str | Path | None = None):
    """The torch module of an architecture (train mode), from a checkpoint or randomly initialised.

    A checkpoint that ``mcpt train reid`` wrote (``backbone.*`` + ``neck.*`` keys) gives the
    architecture with its BNNeck; any other is loaded into the bare architecture.
    """
    torch = require_torch()
    from mcpt_export.reid_models import ARCHITECTURES, IGNORED_KEYS, WithNeck

    if arch not in ARCHITECTURES:
        raise InputError(
            None, f"unknown ReID architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}", field="--arch"
        )
    cls = ARCHITECTURES[arch]
    state = load_state_dict(weights) if weights else None
    necked = state is not None and "neck.weight" in state
    prefix = "backbone." if necked else ""
    if arch == "resnet50_ibn":
        inter = 1
        key = prefix + "backbone.NL_2.0.g.weight"
        if state is not None and key in state:
            inter = int(state[key].shape[0])  # fast-reid versions differ here
        net = cls(nl_inter=inter)
    else:
        net = cls()
    if necked:
        net = WithNeck(net)
    if state is not None:
        ignored = tuple(prefix + k for k in IGNORED_KEYS.get(arch, ())) + (("classifier.",) if necked else ())
        load_into(net, state, weights, arch, ignored)
    else:
        torch.manual_seed(0)
        _randomise_norm_stats(net)
    return net


def build_reid(arch: str, weights: str | Path | None = None):
    """The exportable module (eval mode): RGB 0..255 in, L2-normalised embedding out."""
    from mcpt_export.reid_models import ReIDExport

    return ReIDExport(build_net(arch, weights)).eval()


def _randomise_norm_stats(net) -> None:
    """Random-init nets have identity BN statistics; give them some so parity tests exercise real maths."""
    torch = require_torch()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def export_reid(
    arch: str,
    out: str | Path,
    weights: str | Path | None = None,
    height: int | None = None,
    width: int | None = None,
    parity_batch: int = 3,
) -> ReIDExportResult:
    torch = require_torch()
    h, w = DEFAULT_SIZES.get(arch, (256, 128))
    h, w = height or h, width or w
    model = build_reid(arch, weights)
    dummy = torch.rand(1, 3, h, w) * 255
    path = export_onnx(model, dummy, out, INPUT_NAME, OUTPUT_NAME)
    x = (torch.rand(parity_batch, 3, h, w, generator=torch.Generator().manual_seed(2)) * 255).float()
    with torch.no_grad():
        ref = model(x).numpy()
    got = run_onnx(path, x.numpy())
    diff = float(np.abs(ref - got).max())
    return ReIDExportResult(path, arch, h, w, int(ref.shape[1]), diff)


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
