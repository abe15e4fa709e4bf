"""Live RTSP cameras: a local GStreamer RTSP server (127.0.0.1 only) serves two cameras; one drops and
comes back mid-stream. Needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0 (installed by .ci/run)."""

import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mcpt.config import load_config
from mcpt.pipeline import run_cpu
from mcpt.scene.cameras import CameraInput
from mcpt.scene.results import read_rows

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


def _server_available() -> str | None:
    try:
        subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "GStreamer RTSP server for Debian's python3 missing (apt install python3-gi gir1.2-gst-rtsp-server-1.0)"
    return None


def _has_camera(path: Path, camera: int) -> bool:
    if not path.is_file():
        return False
    return any(line.split(" ", 1)[0] == str(camera) for line in path.read_text().splitlines())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, video: Path, port: int) -> None:
        self.video, self.port = video, port
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.video), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def live_scene(tmp_path_factory, demo_scene):
    """The whole 79 s of vtest.avi: each test's stream ends well inside it (the server does not loop mp4)."""
    from mcpt.demo import build_demo_scene

    return build_demo_scene(tmp_path_factory.mktemp("live"), frames=795)


@pytest.fixture
def servers(live_scene):
    reason = _server_available()
    if reason:
        pytest.skip(reason)
    made = [Server(live_scene / f"camera_000{k}" / "video.mp4", free_port()) for k in (1, 2)]
    for s in made:
        s.start()
    yield made
    for s in made:
        s.kill()


def _frame_times(results):
    """(camera, frame id) -> stream time, from the live run's sidecar (checked on the way)."""
    import csv
    import datetime

    from mcpt.outputs.frame_times import times_path

    out = {}
    last: dict[int, int] = {}
    with times_path(results).open() as f:
        for row in csv.DictReader(f):
            cam, frame = int(row["camera_id"]), int(row["frame_id"])
            assert frame > last.get(cam, -1), "frame ids of one camera increase"
            last[cam] = frame
            datetime.datetime.fromisoformat(row["wall_clock_utc"])
            out[(cam, frame)] = float(row["stream_time_s"])
    return out


def test_camera_that_drops_is_reconnected_while_the_other_goes_on(servers, live_scene, default_models, tmp_path):
    cams = [
        CameraInput(k + 1, s.uri, live_scene / f"camera_000{k + 1}" / "calibration.json") for k, s in enumerate(servers)
    ]
    out = tmp_path / "live.txt"
    result = {}

    def run():
        result["res"] = run_cpu("live", cams, load_config(), out, fps=5.0, max_steps=80, progress=False)

    worker = threading.Thread(target=run)
    worker.start()
    # wait until camera 2's people are being written (start-up time depends on the machine's load)
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not _has_camera(partial, 2):
        time.sleep(0.5)
    assert _has_camera(partial, 2), "camera 2 never produced rows"
    servers[1].kill()
    killed_at = time.monotonic()
    time.sleep(3)
    servers[1].start()
    worker.join(timeout=240)
    assert not worker.is_alive()
    res = result["res"]
    s1, s2 = res.sources[1], res.sources[2]
    assert s2["gaps"] >= 1 and s2["reconnects"] >= 1, s2
    assert 2.0 <= s2["gap_s"] <= 60, s2
    assert s1["gaps"] == 0, s1
    rows = read_rows(out)
    times = _frame_times(out)
    # every row's (camera, frame id) is in the sidecar, which maps it to the run's clock
    t = np.array([times[(c, f)] for c, f in zip(rows.camera.tolist(), rows.frame.tolist(), strict=True)])
    t1, t2 = np.unique(t[rows.camera == 1]), np.unique(t[rows.camera == 2])
    assert s1["frames"] >= res.summary.steps, (s1, res.summary.steps)
    # camera 2's rows stop for the outage and come back; camera 1's people were written meanwhile
    k = int(np.argmax(np.diff(t2)))
    gap_start, gap_end = t2[k], t2[k + 1]
    assert gap_end - gap_start >= 2.0, (gap_start, gap_end)
    assert np.any((t1 > gap_start) & (t1 < gap_end)), "camera 1 should have rows while camera 2 is missing"
    assert time.monotonic() - killed_at < 200


def test_unreachable_camera_at_start_does_not_stop_the_others(servers, live_scene, default_models, tmp_path):
    cams = [
        CameraInput(1, servers[0].uri, live_scene / "camera_0001" / "calibration.json"),
        CameraInput(2, f"rtsp://127.0.0.1:{free_port()}/nothing", live_scene / "camera_0002" / "calibration.json"),
    ]
    out = tmp_path / "live.txt"
    res = run_cpu("live", cams, load_config(), out, fps=5.0, max_steps=25, progress=False)
    assert "cannot connect" in res.sources[2]["error"] and "cannot connect" in res.failed[2]
    rows = read_rows(out)
    assert set(rows.camera.tolist()) == {1}
    assert res.summary.steps == 25
    # --strict: the same camera stops the run before it starts, exit code 3
    from mcpt.errors import InputError

    with pytest.raises(InputError) as e:
        run_cpu("live", cams, load_config(), tmp_path / "strict.txt", fps=5.0, max_steps=5, progress=False, strict=True)
    assert e.value.exit_code == 3 and "camera 2" in str(e.value) and not (tmp_path / "strict.txt").exists()
