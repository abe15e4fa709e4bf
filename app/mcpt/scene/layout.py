"""Discover scenes and cameras: ``<split>/scene_XXX/camera_XXXX/{video.mp4,calibration.json}``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import InputError
from mcpt.scene.calibration import Calibration, load_calibration

SCENE_RE = re.compile(r"^scene_(\d+)$")
CAMERA_RE = re.compile(r"^camera_(\d+)$")
VIDEO_NAMES = ("video.mp4", "video.avi", "video.mkv")
CALIBRATION_NAME = "calibration.json"
PERCEPTION_NAME = "perception.npz"
GROUND_TRUTH_NAME = "ground_truth.txt"


@dataclass(frozen=True)
class CameraDir:
    camera_id: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def video(self) -> Path | None:
        for name in VIDEO_NAMES:
            if (self.path / name).is_file():
                return self.path / name
        return None

    @property
    def calibration_path(self) -> Path:
        return self.path / CALIBRATION_NAME

    @property
    def perception_path(self) -> Path:
        return self.path / PERCEPTION_NAME

    def perception_file(self, name: str | None = None) -> Path:
        """Cached perception: ``perception.npz`` (the simulator's) or ``perception_<name>.npz`` (mcpt perceive)."""
        return self.path / (f"perception_{name}.npz" if name else PERCEPTION_NAME)

    def calibration(self, image_size: tuple[int, int] | None = None) -> Calibration:
        return load_calibration(self.calibration_path, self.camera_id, image_size=image_size)


@dataclass(frozen=True)
class SceneDir:
    name: str
    path: Path
    cameras: tuple[CameraDir, ...]

    @property
    def ground_truth(self) -> Path | None:
        p = self.path / GROUND_TRUTH_NAME
        return p if p.is_file() else None

    @property
    def camera_ids(self) -> list[int]:
        return [c.camera_id for c in self.cameras]


def is_scene_dir(path: Path) -> bool:
    return path.is_dir() and any(CAMERA_RE.match(p.name) and p.is_dir() for p in path.iterdir())


def discover_scene(path: str | Path) -> SceneDir:
    """One scene folder; an error if it holds no ``camera_XXXX`` folders."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "scene folder not found")
    cameras = []
    for p in sorted(path.iterdir()):
        m = CAMERA_RE.match(p.name)
        if m and p.is_dir():
            cameras.append(CameraDir(int(m.group(1)), p))
    if not cameras:
        raise InputError(path, "no camera_XXXX folders; expected a scene in the AIC24 layout (scene_XXX/camera_XXXX/)")
    ids = [c.camera_id for c in cameras]
    if len(set(ids)) != len(ids):
        raise InputError(path, "two camera folders share one camera number", field="camera_XXXX")
    return SceneDir(path.name, path, tuple(cameras))


def discover_scenes(path: str | Path) -> list[SceneDir]:
    """Scenes under a path that is a scene, a split (``scene_*`` inside) or a videos root (splits inside)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "folder not found")
    if is_scene_dir(path):
        return [discover_scene(path)]
    scene_dirs = sorted(p for p in path.iterdir() if p.is_dir() and SCENE_RE.match(p.name))
    if not scene_dirs:
        scene_dirs = sorted(p for p in path.glob("*/scene_*") if p.is_dir() and SCENE_RE.match(p.name))
    if not scene_dirs:
        raise InputError(path, "no scene_XXX folders and no camera_XXXX folders; expected an AIC24 split or scene")
    return [discover_scene(p) for p in scene_dirs]
