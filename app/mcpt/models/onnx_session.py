"""ONNX Runtime sessions with one clear error for missing or unusable model files."""

from __future__ import annotations

import os
from pathlib import Path

from mcpt.errors import InputError


def open_session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file not found; run `make models` (or `mcpt export ...`) first")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise InputError(path, f"ONNX Runtime cannot load it ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def batch_axis(session) -> int | None:
    """The fixed batch size of the first input, or None when it is dynamic."""
    dim = session.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) else None


def run_in_chunks(session, input_name: str, batch, max_batch: int, fixed_batch: int | None):
    """The first output of ``session`` over ``batch`` in chunks of ``max_batch``; a model with a fixed batch
    size gets its last chunk padded with zeros (and the padding's outputs dropped)."""
    import numpy as np

    parts = []
    for i in range(0, len(batch), max_batch):
        chunk = batch[i : i + max_batch]
        if fixed_batch and len(chunk) < fixed_batch:
            pad = np.zeros((fixed_batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
            parts.append(session.run(None, {input_name: np.concatenate([chunk, pad])})[0][: len(chunk)])
        else:
            parts.append(session.run(None, {input_name: chunk})[0])
    return np.concatenate(parts)
