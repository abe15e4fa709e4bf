"""``mcpt doctor``: what this machine has for each of mcpt's paths, and the fix for what it lacks.

Each check is a small function returning a ``Check``; the CPU path's checks decide the exit code,
the DeepStream path's only say whether that path can run here.
"""

from __future__ import annotations

import importlib
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

OK, WARN, MISSING = "ok", "warn", "missing"
DS_ELEMENTS = ("nvurisrcbin", "nvstreammux", "nvinfer", "nvtracker", "nvmultistreamtiler", "nvdsosd")
PARSER_LIB = Path("plugins/nvdsinfer_custom_impl_mcpt/libnvdsinfer_custom_impl_mcpt.so")


@dataclass
class Check:
    path: str  # "cpu" or "deepstream" (or "extra": nice to have)
    name: str
    status: str
    detail: str
    fix: str = ""


def _version(module: str) -> str | None:
    try:
        m = importlib.import_module(module)
    except Exception:
        return None
    return str(getattr(m, "__version__", "?"))


def check_python() -> Check:
    v = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return Check("cpu", "Python", OK if ok else MISSING, v, "" if ok else "Python 3.10 or newer")


def check_numpy(pyds_present: bool) -> Check:
    v = _version("numpy")
    if v is None:
        return Check("cpu", "numpy", MISSING, "not importable", "make install")
    if pyds_present and int(v.split(".")[0]) >= 2:
        return Check(
            "cpu", "numpy", WARN, f"{v}; NVIDIA's pyds needs numpy<2", 'pip install "numpy<2" (the Dockerfile pins it)'
        )
    return Check("cpu", "numpy", OK, v)


def check_opencv() -> Check:
    try:
        import cv2
    except Exception:
        return Check("cpu", "OpenCV", MISSING, "cv2 not importable", "make install (opencv-python-headless)")
    ffmpeg = any("FFMPEG" in line and "YES" in line for line in cv2.getBuildInformation().splitlines())
    if not ffmpeg:
        return Check(
            "cpu",
            "OpenCV",
            MISSING,
            f"{cv2.__version__} without FFmpeg",
            "a wheel with FFmpeg (opencv-python-headless)",
        )
    return Check("cpu", "OpenCV", OK, f"{cv2.__version__} with FFmpeg (video files, RTSP)")


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except Exception:
        return Check("cpu", "ONNX Runtime", MISSING, "not importable", "make install")
    providers = ort.get_available_providers()
    return Check("cpu", "ONNX Runtime", OK, f"{ort.__version__}; providers {', '.join(providers)}")


def check_trackeval() -> Check:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # it prints notes about optional datasets
        v = _version("trackeval")
    if v is None:
        return Check(
            "cpu", "TrackEval (mcpt eval)", MISSING, "not importable", "pip install --no-deps trackeval==1.3.0"
        )
    return Check("cpu", "TrackEval (mcpt eval)", OK, "importable")


def check_models() -> list[Check]:
    from mcpt.models.manifest import load_manifest

    try:
        m = load_manifest()
    except Exception as e:
        return [Check("cpu", "model manifest", MISSING, str(e), "a checkout with models/models.yaml (or MCPT_HOME)")]
    out = []
    # the pose model is optional (mcpt run --pose): missing, it is a warning on the extra path
    needed = [(m.detector, "cpu", MISSING), (m.reid, "cpu", MISSING)] + ([(m.pose, "extra", WARN)] if m.pose else [])
    for spec, path, bad in needed:
        if not spec.onnx.is_file():
            out.append(Check(path, f"{spec.role} {spec.name}", bad, f"{spec.onnx} not exported", "make models"))
            continue
        detail = f"{spec.onnx.name}"
        try:
            import onnxruntime as ort

            sess = ort.InferenceSession(str(spec.onnx), providers=["CPUExecutionProvider"])
            shape = sess.get_inputs()[0].shape
            if shape[2:] != [spec.height, spec.width]:
                out.append(
                    Check(
                        path,
                        f"{spec.role} {spec.name}",
                        bad,
                        f"input {shape} but models.yaml says {spec.height}x{spec.width}",
                        "make models (export again)",
                    )
                )
                continue
            detail += f", input {shape}"
        except Exception as e:
            out.append(Check(path, f"{spec.role} {spec.name}", bad, f"cannot open: {e}", "make models"))
            continue
        if spec.role == "detector":
            op = spec.operating_points
            detail += (
                f"; operating points {op.track_high}/{op.track_low}/{op.new_track}/{op.cluster_min_score}"
                if op
                else "; no operating points (mcpt calibrate-detector)"
            )
        out.append(Check(path, f"{spec.role} {spec.name}", OK, detail))
    return out


def check_gstreamer() -> tuple[Check, object | None]:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst

        Gst.init(None)
    except Exception as e:
        return Check(
            "deepstream",
            "GStreamer Python (gi)",
            MISSING,
            f"not importable ({type(e).__name__})",
            "apt install python3-gi gir1.2-gstreamer-1.0 (inside the DeepStream image: there)",
        ), None
    return Check("deepstream", "GStreamer Python (gi)", OK, Gst.version_string()), Gst


def check_elements(gst) -> list[Check]:
    out = []
    for name in DS_ELEMENTS:
        found = gst is not None and gst.ElementFactory.find(name) is not None
        out.append(
            Check(
                "deepstream",
                f"element {name}",
                OK if found else MISSING,
                "found" if found else "absent",
                "" if found else "DeepStream (GST_PLUGIN_PATH)",
            )
        )
    hw = gst is not None and gst.ElementFactory.find("nvv4l2h264enc") is not None
    sw = gst is not None and gst.ElementFactory.find("x264enc") is not None
    status = OK if (hw or sw) else MISSING
    detail = ", ".join(n for n, f in (("nvv4l2h264enc", hw), ("x264enc", sw)) if f) or "no H.264 encoder"
    out.append(
        Check(
            "deepstream",
            "H.264 encoder (--video)",
            status,
            detail,
            "" if status == OK else "gstreamer1.0-plugins-ugly (x264enc)",
        )
    )
    return out


def check_rtsp_server() -> Check:
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401
    except Exception:
        return Check(
            "extra",
            "RTSP server bindings",
            WARN,
            "absent (RTSP output and the live tests)",
            "apt install gir1.2-gst-rtsp-server-1.0",
        )
    return Check("extra", "RTSP server bindings", OK, "GstRtspServer 1.0")


def check_pyds() -> Check:
    try:
        import pyds
    except Exception:
        return Check(
            "deepstream",
            "pyds (DeepStream Python)",
            MISSING,
            "not importable",
            "NVIDIA's wheel (the Dockerfile installs it), never PyPI's `pyds`",
        )
    if not hasattr(pyds, "gst_buffer_get_nvds_batch_meta"):
        return Check(
            "deepstream",
            "pyds (DeepStream Python)",
            MISSING,
            "PyPI's unrelated pyds is installed",
            "pip uninstall pyds; install NVIDIA's wheel",
        )
    return Check("deepstream", "pyds (DeepStream Python)", OK, str(getattr(pyds, "__version__", "NVIDIA's")))


def check_tensorrt() -> Check:
    v = _version("tensorrt")
    trtexec = shutil.which("trtexec") or next(
        (p for p in ("/usr/src/tensorrt/bin/trtexec",) if Path(p).is_file()), None
    )
    if v is None and trtexec is None:
        return Check(
            "deepstream", "TensorRT", MISSING, "no tensorrt package, no trtexec", "the DeepStream image has both"
        )
    return Check("deepstream", "TensorRT", OK, f"python {v or 'absent'}; trtexec {trtexec or 'absent'}")


def check_cuda() -> Check:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Check("deepstream", "CUDA devices", MISSING, "no nvidia-smi", "an NVIDIA GPU and driver")
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return Check("deepstream", "CUDA devices", MISSING, str(e), "an NVIDIA driver")
    gpus = [line for line in out.splitlines() if line.startswith("GPU")]
    if not gpus:
        return Check("deepstream", "CUDA devices", MISSING, "none listed", "an NVIDIA GPU and driver")
    return Check("deepstream", "CUDA devices", OK, "; ".join(g.split(" (UUID")[0] for g in gpus))


def check_parser_lib() -> Check:
    from mcpt.models.manifest import repo_root

    lib = repo_root() / PARSER_LIB
    if not lib.is_file():
        return Check(
            "deepstream",
            "nvinfer parser library",
            MISSING,
            f"{PARSER_LIB} not built",
            "CUDA_VER=12.6 make -C plugins/nvdsinfer_custom_impl_mcpt",
        )
    return Check("deepstream", "nvinfer parser library", OK, str(PARSER_LIB))


def check_engines() -> Check:
    from mcpt.models.engine_names import engine_path
    from mcpt.models.manifest import load_manifest

    m = load_manifest()
    found = sorted(
        p.name for spec in (m.detector, m.reid) for p in spec.onnx.parent.glob(spec.onnx.name + "_b*.engine")
    )
    if not found:
        example = engine_path(m.detector.onnx, 4, 0, "fp16").name
        return Check(
            "deepstream",
            "TensorRT engines",
            MISSING,
            f"none beside the ONNX files (e.g. {example})",
            "make engines (inside the DeepStream image)",
        )
    return Check("deepstream", "TensorRT engines", OK, ", ".join(found))


def check_demo_video() -> Check:
    from mcpt.demo import VTEST

    if not VTEST.is_file():
        return Check("extra", "demo video (vtest.avi)", WARN, "absent", "apt install opencv-doc")
    return Check("extra", "demo video (vtest.avi)", OK, str(VTEST))


def run_checks() -> list[Check]:
    pyds_check = check_pyds()
    gst_check, gst = check_gstreamer()
    checks = [
        check_python(),
        check_numpy(pyds_check.status == OK),
        check_opencv(),
        check_onnxruntime(),
        check_trackeval(),
        *check_models(),
        check_demo_video(),
        check_rtsp_server(),
        gst_check,
        *check_elements(gst),
        pyds_check,
        check_tensorrt(),
        check_cuda(),
        check_parser_lib(),
    ]
    try:
        checks.append(check_engines())
    except Exception as e:  # a broken manifest is reported above already
        checks.append(Check("deepstream", "TensorRT engines", MISSING, str(e)))
    return checks


def verdict(checks: list[Check]) -> tuple[bool, bool]:
    """(the CPU path is complete, the DeepStream path is complete)."""
    cpu = all(c.status != MISSING for c in checks if c.path == "cpu")
    ds = cpu and all(c.status != MISSING for c in checks if c.path == "deepstream")
    return cpu, ds
