from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcpt.simulate.params import make_params
from mcpt.simulate.scene import write_scene


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory) -> Path:
    """A small medium-difficulty simulated scene (4 cameras, 150 frames), shared by tests that only read it."""
    out = tmp_path_factory.mktemp("sim")
    params = make_params("medium", cameras=4, frames=150, seed=7, people_population=8)
    return write_scene(out, params, progress=False, difficulty="medium")


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def good_calibration() -> dict:
    """A camera 5 m up at (0, -5) looking at the origin, 1920x1080."""
    from mcpt.simulate.cameras import PinholeCamera, look_at

    centre = np.array([0.0, -5.0, 5.0])
    k = np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]])
    cam = PinholeCamera(1, k, look_at(centre, np.array([0.0, 0.0, 0.0])), centre, (1920, 1080))
    return {"camera projection matrix": cam.projection.tolist(), "homography matrix": cam.homography.tolist()}


VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="session")
def default_models():
    """The manifest's default detector and ReID ONNX files (exported once if missing: make models)."""
    from mcpt.models.manifest import load_manifest

    m = load_manifest()
    if not (m.detector.onnx.is_file() and m.reid.onnx.is_file()):
        try:
            from mcpt_export.models import export_manifest
        except ImportError:
            pytest.skip("default models not exported and export tools missing (make models)")
        export_manifest(m, [m.default_detector, m.default_reid])
    return m


@pytest.fixture(scope="session")
def demo_scene(tmp_path_factory):
    if not VTEST.is_file():
        pytest.skip("Debian opencv-doc (vtest.avi) not installed")
    from mcpt.demo import build_demo_scene

    return build_demo_scene(tmp_path_factory.mktemp("demo"), frames=60)
