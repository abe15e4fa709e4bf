"""The cameras of a run: a scene folder's camera_XXXX folders or a cameras.yaml of live streams.

Both backends (CPU and DeepStream) start from this list: an id, a URI (file path or RTSP) and a
calibration file per camera.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import CameraError, InputError
from mcpt.scene.layout import SceneDir

log = logging.getLogger(__name__)


@dataclass
class CameraInput:
    camera_id: int
    uri: str
    calibration: Path


def cameras_from_scene(scene: SceneDir) -> list[CameraInput]:
    if not any(c.video is not None for c in scene.cameras):
        raise InputError(scene.path, "no camera_XXXX folder holds a video (video.mp4)")
    # a camera without its video stays in the list: its source reports it, as every other failure
    return [CameraInput(c.camera_id, str(c.video or c.path / "video.mp4"), c.calibration_path) for c in scene.cameras]


def cameras_from_yaml(path: str | Path) -> tuple[str, list[CameraInput], float | None]:
    """``cameras.yaml``: ``scene:`` (name), ``fps:`` (processing rate) and ``cameras:`` [{id, uri, calibration}]."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "cameras file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({getattr(e, 'problem', e)})") from None
    items = data.get("cameras")
    if not isinstance(items, list) or not items:
        raise InputError(path, "expected a list of cameras, each with id, uri and calibration", field="cameras")
    cams = []
    for k, item in enumerate(items):
        for key in ("id", "uri", "calibration"):
            if not isinstance(item, dict) or key not in item:
                raise InputError(path, "missing", field=f"cameras[{k}].{key}")
        calib = Path(item["calibration"])
        if not calib.is_absolute():
            calib = path.parent / calib
        try:
            cid = int(item["id"])
        except (TypeError, ValueError):
            raise InputError(
                path, f"expected an integer camera id, got {item['id']!r}", field=f"cameras[{k}].id"
            ) from None
        cams.append(CameraInput(cid, str(item["uri"]), calib))
    ids = [c.camera_id for c in cams]
    if len(set(ids)) != len(ids):
        raise InputError(path, "two cameras share an id", field="cameras")
    fps = data.get("fps")
    return str(data.get("scene", path.stem)), cams, float(fps) if fps else None


class CameraFailures:
    """Why each failed camera is out of the run: the one record every layer reports to.

    Calibration loading, the camera's source and perception each find their own kind of failure;
    they all call ``fail`` so the run's camera table and summary name every camera and reason.
    """

    def __init__(self) -> None:
        self.reasons: dict[int, str] = {}

    def fail(self, camera_id: int, reason: str) -> None:
        if camera_id not in self.reasons:
            self.reasons[camera_id] = reason
            log.error("camera %s left out: %s", camera_id, reason)

    def __contains__(self, camera_id: int) -> bool:
        return camera_id in self.reasons

    def check(self, total: int, strict: bool, where: str) -> None:
        """The failure policy of every command: the run goes on with the cameras that work; it stops
        (exit 2) when none does, and with ``strict`` (exit 3) when any camera failed."""
        if not self.reasons:
            return
        listed = "; ".join(f"camera {c}: {r}" for c, r in sorted(self.reasons.items()))
        if len(self.reasons) >= total:
            raise InputError(where, f"no camera works ({listed})")
        if strict:
            raise CameraError(where, f"{len(self.reasons)} of {total} cameras failed, --strict ({listed})")


def load_calibrations(cameras: list[CameraInput], failures: CameraFailures) -> dict:
    """Each camera's calibration; a camera whose file is missing or invalid is recorded as failed."""
    from mcpt.scene.calibration import load_calibration

    calibs = {}
    for cam in cameras:
        try:
            calibs[cam.camera_id] = load_calibration(cam.calibration, cam.camera_id)
        except InputError as e:
            failures.fail(cam.camera_id, str(e))
    return calibs
