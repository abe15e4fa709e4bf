"""Market-1501 file names and folders: ``PPPP_cCsS_FFFFFF_NN.jpg`` under ``bounding_box_train/``,
``query/`` and ``bounding_box_test/``.

P is the person id (numbered over the whole prepared dataset: AIC24 ids restart in every scene),
C the camera id (AIC24's global camera number, any number of digits), S the scene number, F the
frame number in the source video and N the crop's index on that frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcpt.errors import InputError

TRAIN, QUERY, GALLERY = "bounding_box_train", "query", "bounding_box_test"
FOLDERS = (TRAIN, QUERY, GALLERY)
NAME_RE = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
COMPLETE_NAME = "dataset.json"  # written last: a folder without it is a partial dataset


@dataclass(frozen=True)
class Crop:
    path: Path
    person: int
    camera: int
    scene: int
    frame: int


def crop_name(person: int, camera: int, scene: int, frame: int, index: int = 0) -> str:
    return f"{person:04d}_c{camera}s{scene}_{frame:06d}_{index:02d}.jpg"


def parse_crop(path: Path) -> Crop | None:
    m = NAME_RE.match(path.name)
    if not m:
        return None
    return Crop(path, int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)))


def list_crops(folder: Path) -> list[Crop]:
    """The crops of one folder; Market's junk (-1) and distractor (0000) ids are left out."""
    if not folder.is_dir():
        return []
    crops = [c for c in (parse_crop(p) for p in sorted(folder.iterdir())) if c is not None]
    return [c for c in crops if c.person > 0]


def reid_root(path: str | Path) -> Path:
    """The Market-layout folder of ``path``: itself, or its ``reid/`` (what ``mcpt prepare`` writes)."""
    path = Path(path)
    for cand in (path, path / "reid"):
        if (cand / TRAIN).is_dir() or (cand / QUERY).is_dir():
            if not (cand / COMPLETE_NAME).is_file() and (cand.parent / ".mcpt-prepare.json").is_file():
                raise InputError(
                    cand, "an unfinished dataset (mcpt prepare was interrupted or failed): run it again to resume"
                )
            return cand
    raise InputError(path, f"no ReID dataset here; expected {TRAIN}/, {QUERY}/ and {GALLERY}/ (Market-1501 layout)")
