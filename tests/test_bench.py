"""The benchmark scripts run end to end (tiny sizes; their numbers are not checked here)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.slow
def test_association_benchmark_quick_run(tmp_path):
    out = tmp_path / "association.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "association.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    for part in ("## Accuracy", "## Positions", "## Rates", "## Speed", "## Memory", "baseline", "log-log slope"):
        assert part in text
    # --only reruns one section and keeps the others
    proc = subprocess.run(
        [sys.executable, str(BENCH / "association.py"), "--quick", "--only", "sweep", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0
    again = out.read_text()
    assert again.split("<!-- sweep")[0] == text.split("<!-- sweep")[0]
