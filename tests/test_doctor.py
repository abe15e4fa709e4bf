"""mcpt doctor on this machine (CPU path complete, DeepStream absent) and its judgement of lookalikes."""

import sys
import types

from mcpt.cli import main
from mcpt.doctor import MISSING, OK, WARN, check_numpy, check_pyds, run_checks, verdict


def test_doctor_here_the_cpu_path_is_ready_and_deepstream_is_reported_absent(capsys, default_models):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "CPU path: ready" in out and "DeepStream path: unavailable" in out
    checks = {c.name: c for c in run_checks()}
    assert checks["ONNX Runtime"].status == OK and "CPUExecutionProvider" in checks["ONNX Runtime"].detail
    assert checks["element nvstreammux"].status == MISSING and checks["pyds (DeepStream Python)"].status == MISSING
    assert verdict(list(checks.values())) == (True, False)


def test_doctor_tells_pypis_pyds_from_nvidias(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyds", types.ModuleType("pyds"))  # PyPI's pyds: no DeepStream calls
    c = check_pyds()
    assert c.status == MISSING and "unrelated" in c.detail
    nvidia = types.ModuleType("pyds")
    nvidia.gst_buffer_get_nvds_batch_meta = lambda address: None
    monkeypatch.setitem(sys.modules, "pyds", nvidia)
    assert check_pyds().status == OK
    # with NVIDIA's pyds, numpy 2 is a problem (its bindings are built against numpy 1)
    assert check_numpy(pyds_present=True).status == WARN
