"""TensorRT engine file names and optimisation profiles, as DeepStream's nvinfer expects them.

nvinfer, given ``onnx-file=X.onnx`` and no usable ``model-engine-file``, builds and saves
``X.onnx_b{batch}_gpu{gpu}_{fp32|int8|fp16}.engine`` beside the ONNX. Building exactly that file
ahead of time, with a profile whose max covers the batch, means DeepStream never rebuilds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import InputError

PRECISIONS = ("fp32", "int8", "fp16")  # nvinfer network-mode 0, 1, 2
NETWORK_MODE = {p: i for i, p in enumerate(PRECISIONS)}
# NvMultiObjectTracker's ReID networkMode counts differently: fp32 0, fp16 1, int8 2
# (deepstream_python_apps tests/integration/tracker_config.yml)
TRACKER_NETWORK_MODE = {"fp32": 0, "fp16": 1, "int8": 2}


def engine_path(onnx: str | Path, batch: int, gpu: int = 0, precision: str = "fp16") -> Path:
    if precision not in PRECISIONS:
        raise InputError(
            None, f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}", field="--precision"
        )
    onnx = Path(onnx)
    return onnx.with_name(f"{onnx.name}_b{batch}_gpu{gpu}_{precision}.engine")


@dataclass(frozen=True)
class Profile:
    """Batch sizes of the optimisation profile: nvinfer's batch-size must not exceed ``max``."""

    min: int
    opt: int
    max: int


def batch_profile(batch_size: int, opt: int | None = None, max_batch: int | None = None) -> Profile:
    """min 1, opt = the usual batch (cameras per scene for a detector), max >= nvinfer's batch-size."""
    if batch_size < 1:
        raise InputError(None, f"batch size must be at least 1, got {batch_size}", field="batch-size")
    opt = min(max(1, opt or batch_size), batch_size)
    return Profile(1, opt, max(batch_size, max_batch or batch_size))
