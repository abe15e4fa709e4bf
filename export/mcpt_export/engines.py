"""TensorRT 10 engines for DeepStream's nvinfer, named the way nvinfer looks for them.

nvinfer, given ``onnx-file=X.onnx`` and no usable ``model-engine-file``, builds and saves
``X.onnx_b{batch}_gpu{gpu}_{fp32|int8|fp16}.engine`` beside the ONNX; building that exact file
ahead of time (with an optimisation profile whose max covers the batch) means DeepStream
never rebuilds at start-up. ``tensorrt`` is imported only inside the build functions.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mcpt.errors import InputError
from mcpt.models.engine_names import NETWORK_MODE, PRECISIONS, Profile, batch_profile, engine_path  # noqa: F401

log = logging.getLogger(__name__)


def onnx_io(path: str | Path) -> tuple[dict[str, list], dict[str, list]]:
    """Input and output tensor shapes of an ONNX model (strings for dynamic axes)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return ({i.name: dims(i) for i in m.graph.input if i.name not in init}, {o.name: dims(o) for o in m.graph.output})


def trtexec_command(
    onnx: str | Path,
    engine: str | Path,
    profile: Profile,
    precision: str,
    gpu: int = 0,
    calib_cache: str | Path | None = None,
) -> str:
    inputs, _ = onnx_io(onnx)
    shapes = {k: [profile.min, profile.opt, profile.max] for k in inputs}
    parts = [f"trtexec --onnx={onnx} --saveEngine={engine}"]
    for flag, idx in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        spec = ",".join(f"{name}:{'x'.join(str(d) for d in [b[idx], *inputs[name][1:]])}" for name, b in shapes.items())
        parts.append(f"{flag}={spec}")
    if precision == "fp16":
        parts.append("--fp16")
    elif precision == "int8":
        parts.append("--int8" + (f" --calib={calib_cache}" if calib_cache else ""))
    parts.append(f"--device={gpu}")
    return " ".join(parts)


TRTEXEC_PATHS = ("/usr/src/tensorrt/bin/trtexec",)


def find_trtexec() -> str | None:
    import shutil

    found = shutil.which("trtexec")
    if found:
        return found
    return next((p for p in TRTEXEC_PATHS if Path(p).is_file()), None)


def run_trtexec(trtexec: str, command: str) -> None:
    import shlex
    import subprocess

    args = shlex.split(command)
    proc = subprocess.run([trtexec, *args[1:]], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise InputError(None, f"trtexec failed: {' | '.join(tail)}")


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        return None
    return trt


def build_engine(
    onnx: str | Path,
    engine: str | Path,
    profile: Profile,
    precision: str = "fp16",
    calibrator=None,
    workspace_gib: float = 4.0,
    gpu: int = 0,
) -> Path:
    """Build and serialise one engine with the TensorRT 10 Python API, then verify it against the ONNX."""
    if gpu:
        _select_gpu(gpu)
    trt = import_tensorrt()
    if trt is None:
        raise InputError(None, "the tensorrt Python package is not importable")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InputError(onnx, f"TensorRT cannot parse it: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    opt_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        t = network.get_input(i)
        dims = list(t.shape)
        if dims[0] != -1:
            raise InputError(onnx, f"input {t.name} has a fixed batch size {dims[0]}; re-export with a dynamic batch")
        rest = dims[1:]
        opt_profile.set_shape(t.name, (profile.min, *rest), (profile.opt, *rest), (profile.max, *rest))
    config.add_optimization_profile(opt_profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        if calibrator is None:
            raise InputError(None, "INT8 needs calibration frames (--calib-scene)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)  # layers INT8 cannot take fall back to FP16
        config.int8_calibrator = calibrator
        config.set_calibration_profile(opt_profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise InputError(onnx, "TensorRT failed to build an engine (see its log above)")
    engine = Path(engine)
    engine.write_bytes(bytes(blob))
    verify_engine(engine, onnx, profile)
    return engine


def _select_gpu(gpu: int) -> None:
    """Build on GPU ``gpu``: CUDA reads CUDA_VISIBLE_DEVICES when it initialises (no cuda-python or torch
    needed, neither of which the DeepStream image has). Must run before TensorRT touches CUDA."""
    current = os.environ.get("CUDA_VISIBLE_DEVICES")
    if current is not None and current != str(gpu):
        raise InputError(None, f"CUDA_VISIBLE_DEVICES={current} is set; unset it to build on GPU {gpu}", field="--gpu")
    os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def verify_engine(engine: str | Path, onnx: str | Path, profile: Profile) -> None:
    """Tensor names, directions and non-batch dims of the engine equal the ONNX's; the profile covers it."""
    trt = import_tensorrt()
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    eng = runtime.deserialize_cuda_engine(Path(engine).read_bytes())
    if eng is None:
        raise InputError(engine, "TensorRT cannot deserialise the engine it just built")
    inputs, outputs = onnx_io(onnx)
    seen = {}
    for i in range(eng.num_io_tensors):
        name = eng.get_tensor_name(i)
        mode = eng.get_tensor_mode(name)
        seen[name] = (mode == trt.TensorIOMode.INPUT, list(eng.get_tensor_shape(name)))
    compare_io(seen, inputs, outputs, engine)
    for name in inputs:
        lo, _, hi = eng.get_tensor_profile_shape(name, 0)
        if lo[0] != profile.min or hi[0] != profile.max:
            raise InputError(engine, f"profile of {name} is {lo[0]}..{hi[0]}, expected {profile.min}..{profile.max}")


def compare_io(seen: dict[str, tuple[bool, list]], inputs: dict, outputs: dict, where) -> None:
    """``seen``: name -> (is_input, shape with -1 for dynamic); raise on any difference from the ONNX."""
    expected = {**{k: (True, v) for k, v in inputs.items()}, **{k: (False, v) for k, v in outputs.items()}}
    if set(seen) != set(expected):
        raise InputError(where, f"engine tensors {sorted(seen)} differ from the ONNX's {sorted(expected)}")
    for name, (is_in, shape) in seen.items():
        e_in, e_shape = expected[name]
        if is_in != e_in:
            raise InputError(where, f"{name} is an {'input' if is_in else 'output'} in the engine but not in the ONNX")
        fixed = [d for d in e_shape[1:] if isinstance(d, int) and d > 0]
        got = [d for d, ed in zip(shape[1:], e_shape[1:], strict=False) if isinstance(ed, int) and ed > 0]
        if len(shape) != len(e_shape) or got != fixed:
            raise InputError(where, f"{name}: engine shape {shape} does not match the ONNX's {e_shape}")


def make_entropy_calibrator(batches, cache: str | Path, batch_shape: tuple[int, ...]):
    """An ``IInt8EntropyCalibrator2`` fed by preprocessed float32 batches (N, 3, H, W), with a kept cache.

    Device memory comes from cuda-python when installed, else torch (the DeepStream image has both).
    """
    trt = import_tensorrt()
    import numpy as np

    cache = Path(cache)

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.batches = iter(batches)
            self.shape = batch_shape
            self.nbytes = int(np.prod(batch_shape)) * 4
            self._alloc()

        def _alloc(self) -> None:
            try:
                from cuda import cudart

                err, self.ptr = cudart.cudaMalloc(self.nbytes)
                if int(err) != 0:
                    raise RuntimeError(f"cudaMalloc of {self.nbytes} bytes failed: {err}")
                self._copy = lambda host: cudart.cudaMemcpy(
                    self.ptr, host.ctypes.data, self.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
                )
            except ImportError:
                import torch

                self.buf = torch.empty(self.shape, dtype=torch.float32, device="cuda")
                self.ptr = self.buf.data_ptr()
                self._copy = lambda host: self.buf.copy_(torch.from_numpy(host))

        def get_batch_size(self) -> int:
            return self.shape[0]

        def get_batch(self, names):
            batch = next(self.batches, None)
            if batch is None:
                return None
            host = np.ascontiguousarray(batch, dtype=np.float32).reshape(self.shape)
            self._copy(host)
            return [int(self.ptr)]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(bytes(data))

    return EntropyCalibrator()
