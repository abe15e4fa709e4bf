"""The cameras of a run: a scene folder's camera_XXXX folders or a cameras.yaml of live streams.

Both backends (CPU and DeepStream) start from this list: an id, a URI (file path or RTSP) and a
calibration file per camera.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir

log = logging.getLogger(__name__)


@dataclass
class CameraInput:
    camera_id: int
    uri: str
    calibration: Path


def cameras_from_scene(scene: SceneDir) -> list[CameraInput]:
    cams = []
    for c in scene.cameras:
        if c.video is None:
            log.error("%s/%s: no video.mp4; camera skipped", scene.name, c.name)
            continue
        cams.append(CameraInput(c.camera_id, str(c.video), c.calibration_path))
    if not cams:
        raise InputError(scene.path, "no camera_XXXX folder holds a video (video.mp4)")
    return cams


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
