"""The message bus: NVIDIA's nv.Frame schema, Redis Streams perception nodes and the association service.

The service tests run real processes against a real redis-server (Debian's, started here on a free
127.0.0.1 port with an append-only file, stopped after) and compare results files byte for byte."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mcpt.bus.messages import camera_message, camera_part, decode, encode, end_message
from mcpt.bus.redis_bus import BusURL
from mcpt.errors import InputError
from mcpt.observation import ObservationBatch

NVIDIA_MODULE = Path(__file__).parent / "third_party" / "nvidia_schema_pb2.py"
MCPT = [sys.executable, "-m", "mcpt", "-q"]


def _batch(n: int = 3, seed: int = 0, keypoints: bool = True) -> ObservationBatch:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    return ObservationBatch(
        scene="scene_009",
        step=42,
        time_s=4.2,
        camera_id=np.array([3, 3, 5][:n], np.int64),
        frame_id=np.full(n, 126, np.int64),
        timestamp=np.full(n, 4.2),
        local_track_id=np.arange(n, dtype=np.int64) + 7,
        bbox=rng.uniform(10, 900, (n, 4)),
        score=rng.uniform(0.1, 1, n),
        embedding=emb / np.linalg.norm(emb, axis=1, keepdims=True),
        world_xy=np.array([[1.0 / 3, -2.718281828], [np.nan, np.nan], [5.5, 1e-9]])[:n],
        world_std=np.array([0.1, np.nan, 0.3])[:n],
        keypoints=rng.uniform(0, 1, (n, 17, 3)).astype(np.float32) if keypoints else None,
    )


def _nvidia(code: str, data: bytes) -> dict:
    """Run ``code`` with NVIDIA's own generated module imported as ``nv`` and the message bytes as ``data``, in a
    process of its own (it and mcpt's module define the same nv.* messages: one process holds one of them)."""
    prog = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('schema_pb2', {str(NVIDIA_MODULE)!r})\n"
        "nv = importlib.util.module_from_spec(spec); spec.loader.exec_module(nv)\n"
        "data = sys.stdin.buffer.read()\n" + code
    )
    out = subprocess.run([sys.executable, "-c", prog], input=data, capture_output=True, check=True)
    return json.loads(out.stdout)


def test_mcpts_schema_is_nvidias_field_for_field():
    from google.protobuf import descriptor_pb2

    from mcpt.bus.schema import nv_schema

    ours = descriptor_pb2.FileDescriptorProto()
    nv_schema().DESCRIPTOR.CopyToProto(ours)
    ours.name = "schema.proto"  # only the file's name differs
    theirs = _nvidia(
        "from google.protobuf import descriptor_pb2\n"
        "d = descriptor_pb2.FileDescriptorProto(); nv.DESCRIPTOR.CopyToProto(d)\n"
        "print(json.dumps(d.SerializeToString().hex()))",
        b"",
    )
    assert ours.SerializeToString().hex() == theirs


def test_a_published_message_parses_with_nvidias_module():
    batch = _batch()
    data = encode(camera_message(batch, 3, 126, 4.2, origin=1_700_000_000.0))
    got = _nvidia(
        "f = nv.Frame(); f.ParseFromString(data)\n"
        "o = f.objects[0]\n"
        "print(json.dumps({'sensor': f.sensorId, 'frame': f.id, 'ts': f.timestamp.ToNanoseconds(), 'n': len(f.objects),"
        " 'id': o.id, 'type': o.type, 'box': [o.bbox.leftX, o.bbox.topY, o.bbox.rightX, o.bbox.bottomY],"
        " 'conf': o.confidence, 'emb': list(o.embedding.vector), 'xy': [o.coordinate.x, o.coordinate.y],"
        " 'kp': len(o.pose.keypoints)}))",
        data,
    )
    x, y, w, h = batch.bbox[0]
    assert got["sensor"] == "3" and got["frame"] == "126" and got["n"] == 2 and got["id"] == "7"
    assert got["ts"] == 1_700_000_004_200_000_000 and got["type"] == "Person" and got["kp"] == 17
    assert np.allclose(got["box"], [x, y, x + w, y + h], rtol=1e-6) and got["conf"] == pytest.approx(batch.score[0])
    assert np.array_equal(np.float32(got["emb"]), batch.embedding[0]) and got["xy"] == batch.world_xy[0].tolist()


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_a_camera_part_crosses_the_bus_to_the_last_bit(fmt):
    batch = _batch()
    msg = decode(encode(camera_message(batch, 3, 126, 4.2), fmt), fmt)
    part = camera_part(msg, origin=0.0, dim=16, node_origin=0.0)
    rows = batch.camera_id == 3
    assert (part.camera_id, part.frame_id, part.timestamp, part.scene) == (3, 126, 4.2, "scene_009")
    for name in ("local_track_id", "bbox", "score", "embedding", "world_std", "keypoints"):
        assert np.array_equal(getattr(part, name), getattr(batch, name)[rows], equal_nan=True), name
    assert np.array_equal(part.world_xy, batch.world_xy[rows], equal_nan=True)
    empty = camera_part(decode(encode(camera_message(_batch(keypoints=False), 4, 126, 4.2), fmt), fmt), 0.0, 16, 0.0)
    assert len(empty.score) == 0 and empty.keypoints is None and not empty.eos  # a camera that saw nobody
    assert camera_part(decode(encode(end_message("s", 3), fmt), fmt), 0.0, 16).eos


def test_a_foreign_producers_standard_fields_are_read():
    """What DeepStream's nvmsgconv sends has no mcpt.* keys: boxes, scores and times come from the schema."""
    from mcpt.bus.schema import nv_schema

    f = nv_schema().Frame(version="4.0", id="30", sensorId="2")
    f.timestamp.FromNanoseconds(1_000_000_000_000 + 3_000_000_000)
    o = f.objects.add(id="11", type="Person", confidence=0.5)
    o.bbox.leftX, o.bbox.topY, o.bbox.rightX, o.bbox.bottomY = 10, 20, 50, 120
    o.coordinate.x, o.coordinate.y = 1.5, 2.5
    part = camera_part(decode(f.SerializeToString()), origin=1000.0, dim=4)
    assert part.timestamp == pytest.approx(3.0) and part.frame_id == 30 and part.local_track_id.tolist() == [11]
    assert part.bbox.tolist() == [[10, 20, 40, 100]] and part.score.tolist() == [0.5]
    assert part.world_xy.tolist() == [[1.5, 2.5]] and part.embedding.shape == (1, 4)


def test_bus_urls_are_checked():
    u = BusURL.parse("redis://10.0.0.5:6380/site-a?format=json&maxlen=100", "--publish")
    assert (u.host, u.port, u.path, u.fmt, u.maxlen) == ("10.0.0.5", 6380, "site-a", "json", 100)
    assert u.camera_stream(4) == "site-a:camera:4" and u.registry == "site-a:cameras"
    for bad in ("kafka://h:1/x", "redis://h:1/", "redis://h:1/x?format=xml", "redis://h:1/x?maxlen=lots"):
        with pytest.raises(InputError, match="--publish"):
            BusURL.parse(bad, "--publish")


# -- real processes against a real redis-server ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of a test's own: 127.0.0.1, append-only file fsynced on every write."""

    def __init__(self, work: Path) -> None:
        self.port = _free_port()
        self.dir = work / "redis"
        self.dir.mkdir()
        self.proc = None
        self.start()

    def start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # a clean shutdown: the AOF is fsynced
        self.proc.wait(timeout=10)

    def url(self, path: str) -> str:
        return f"redis://127.0.0.1:{self.port}/{path}"


@pytest.fixture()
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server; .ci/run installs it)")
    server = Redis(tmp_path)
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def bus_scene(tmp_path_factory) -> Path:
    """4 cameras, 8 s at 10 fps, with keypoints: short enough to publish in real time."""
    from mcpt.simulate.params import make_params
    from mcpt.simulate.scene import write_scene

    params = make_params("medium", cameras=4, frames=80, seed=3, people_population=6, fps=10)
    return write_scene(tmp_path_factory.mktemp("bus"), params, progress=False, difficulty="medium")


def _single(scene: Path, out: Path) -> bytes:
    subprocess.run([*MCPT, "track", str(scene), "--out", str(out)], check=True)
    return out.read_bytes()


def _nodes(scene: Path, url: str, realtime: bool = False) -> list[subprocess.Popen]:
    """Three perception nodes: cameras 1+2, 3 and 4."""
    extra = ["--realtime", "--origin", f"{time.time() + 0.5:.3f}"] if realtime else []
    shares = (["--camera", "1", "--camera", "2"], ["--camera", "3"], ["--camera", "4"])
    cmd = [*MCPT, "track", str(scene), "--publish", url, *extra]
    return [subprocess.Popen([*cmd, *share], stdout=subprocess.PIPE, text=True) for share in shares]


def _associate(scene: Path, url: str, out: Path, *extra: str) -> subprocess.Popen:
    args = [*MCPT, "associate", "--from", url, "--scene", str(scene), "--out", str(out), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out
        outs.append(out or "")
    return outs


def test_three_nodes_and_the_service_equal_one_process_byte_for_byte(bus_scene, redis_server, tmp_path):
    single = _single(bus_scene, tmp_path / "single.txt")
    url = redis_server.url("site")
    nodes = _nodes(bus_scene, url)
    service = _associate(bus_scene, url, tmp_path / "split.txt", "--publish", redis_server.url("tracks"))
    _finish(nodes)
    (report,) = _finish([service])
    assert (tmp_path / "split.txt").read_bytes() == single
    assert "late frames 0" in report
    # the tracks went out: every result row once, with its global id, in nv.Frame messages
    import redis

    client = redis.Redis(port=redis_server.port)
    ids = []
    for _, fields in client.xrange("tracks"):
        msg = decode(fields[b"pb"])
        ids += [(int(msg.sensorId), int(msg.id), int(o.id)) for o in msg.objects]
    rows = np.loadtxt(tmp_path / "single.txt", ndmin=2)
    assert sorted(ids) == sorted((int(c), int(f), int(i)) for c, i, f in rows[:, :3])
    # every camera message was acknowledged: nothing pending in the group
    for cam in (1, 2, 3, 4):
        assert client.xpending(f"site:camera:{cam}", "mcpt-associate")["pending"] == 0


def test_the_service_killed_mid_run_resumes_from_its_snapshot(bus_scene, redis_server, tmp_path):
    single = _single(bus_scene, tmp_path / "single.txt")
    url = redis_server.url("site")
    nodes = _nodes(bus_scene, url, realtime=True)  # 8 s of stream: the service is mid-run while they publish
    out = tmp_path / "r.txt"
    first = _associate(bus_scene, url, out, "--snapshot-every", "0.2")
    deadline = time.monotonic() + 30
    partial = out.with_name("r.txt.partial")
    while time.monotonic() < deadline and not (partial.is_file() and partial.stat().st_size > 2000):
        time.sleep(0.1)
    time.sleep(0.5)
    first.kill()  # SIGKILL: no chance to snapshot or flush anything more
    first.wait()
    assert not out.exists() and out.with_name("r.txt.snapshot").is_file()
    second = _associate(bus_scene, url, out)
    _finish(nodes)
    (report,) = _finish([second])
    assert "resumed at step" in report
    assert out.read_bytes() == single  # every row once, global ids as one run gives them


def test_a_broker_restart_mid_run_loses_nothing(bus_scene, redis_server, tmp_path):
    single = _single(bus_scene, tmp_path / "single.txt")
    url = redis_server.url("site")
    nodes = _nodes(bus_scene, url, realtime=True)
    service = _associate(bus_scene, url, tmp_path / "r.txt")
    import redis

    client = redis.Redis(port=redis_server.port)
    deadline = time.monotonic() + 30
    # every node publishing (a slow machine takes a while to start them), well before their 8 s end
    while time.monotonic() < deadline and min(client.xlen(f"site:camera:{c}") for c in (1, 2, 3, 4)) < 10:
        time.sleep(0.1)
    client.close()
    redis_server.stop()
    time.sleep(1.5)  # the nodes buffer meanwhile
    redis_server.start()  # from its append-only file: streams, group and its position are back
    reports = _finish(nodes)
    _finish([service])
    assert (tmp_path / "r.txt").read_bytes() == single
    assert all("broker reconnections 1" in r and "dropped 0" in r for r in reports), reports


def test_a_video_node_mcpt_run_publish_feeds_the_service(demo_scene, default_models, redis_server, tmp_path):
    """The CPU pipeline as a perception node: detection, ReID and tracking here, association in the service."""
    single = tmp_path / "single.txt"
    subprocess.run([*MCPT, "run", str(demo_scene), "--out", str(single), "--frames", "8"], check=True)
    url = redis_server.url("cams")
    node = subprocess.run([*MCPT, "run", str(demo_scene), "--publish", url, "--frames", "8"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    assert "published to" in node.stdout
    (report,) = _finish([_associate(demo_scene, url, tmp_path / "r.txt")])
    assert "8 steps" in report and (tmp_path / "r.txt").read_bytes() == single.read_bytes()
    bad = subprocess.run([*MCPT, "run", str(demo_scene), "--publish", url, "--video", str(tmp_path / "v.mp4")],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--associate" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_node_with_a_broken_camera_lets_the_service_finish(demo_scene, default_models, redis_server, tmp_path):
    """The failure policy across the bus: the camera is left out, registered as failed and ended at once."""
    scene = tmp_path / "scene_001"
    shutil.copytree(demo_scene, scene)
    (scene / "camera_0003" / "calibration.json").write_text("{not json")
    single = tmp_path / "single.txt"
    subprocess.run([*MCPT, "run", str(scene), "--out", str(single), "--frames", "5"], check=True)
    url = redis_server.url("broken")
    subprocess.run([*MCPT, "run", str(scene), "--publish", url, "--frames", "5"], check=True, capture_output=True)
    (report,) = _finish([_associate(scene, url, tmp_path / "r.txt")], timeout=60)
    assert "5 steps" in report and (tmp_path / "r.txt").read_bytes() == single.read_bytes()
