"""Shared helpers: importing torch with a clear message, checkpoints, ONNX export and checks."""

from __future__ import annotations

from pathlib import Path

from mcpt.errors import InputError

OPSET = 17
INSTALL_HINT = "run `make install-export` (torch==2.13.0 CPU wheel + ultralytics)"


def require_torch():
    try:
        import torch
    except ImportError:
        raise InputError(None, f"exporting needs torch; {INSTALL_HINT}") from None
    return torch


def load_state_dict(path: str | Path) -> dict:
    """A checkpoint's tensors, whatever the wrapping ({'model': ...}, {'state_dict': ...}, 'module.' prefixes)."""
    torch = require_torch()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise InputError(path, f"cannot read the checkpoint ({type(e).__name__}: {e})") from None
    for key in ("model", "state_dict", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise InputError(path, f"expected a state dict of tensors, got {type(obj).__name__}")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items() if hasattr(v, "shape")}


def load_into(model, state: dict, path: str | Path, arch: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load weights strictly; one line naming the first missing/unexpected/mis-shaped keys otherwise."""
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own and not k.endswith("num_batches_tracked")]
    shape = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if shape:
            k = shape[0]
            parts.append(f"{len(shape)} shape mismatches (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise InputError(path, f"not a {arch} checkpoint: " + "; ".join(parts))
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def export_onnx(module, dummy, out: str | Path, input_name: str, output_name: str) -> Path:
    """ONNX with a dynamic batch axis (opset 17), simplified when onnxslim is available."""
    torch = require_torch()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            (dummy,),
            str(out),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    simplify(out)
    check_batch_axis(out)
    return out


def simplify(path: Path) -> None:
    try:
        import onnxslim
    except ImportError:
        return
    import onnx

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def check_batch_axis(path: str | Path) -> tuple[str, list]:
    """The first input's name and shape; an error if its batch axis is not dynamic."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "ONNX file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise InputError(path, f"not an ONNX model ({type(e).__name__})") from None
    inp = model.graph.input[0]
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    if not dims or not isinstance(dims[0], str):
        raise InputError(
            path,
            f"input {inp.name!r} has a fixed batch size {dims[0] if dims else '?'}; expected a "
            "dynamic batch axis (re-export with `mcpt export`)",
            field=inp.name,
        )
    return inp.name, dims
