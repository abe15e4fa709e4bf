"""AIC24 rows: ``camera_id obj_id frame_id xmin ymin width height xworld yworld``.

Ground truth and results share this format. Frame ids are 0-based as in the official spec;
readers accept 1-based files with ``frame_base=1`` and convert. Writers always write 0-based.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcpt.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ("camera_id", "obj_id", "frame_id", "xmin", "ymin", "width", "height", "xworld", "yworld")
NUM_COLUMNS = len(COLUMNS)


@dataclass
class Rows:
    """Columnar AIC24 rows. ``box`` is x, y, w, h in pixels; ``world`` is x, y on the floor in metres."""

    camera: np.ndarray  # int64 (N,)
    obj: np.ndarray  # int64 (N,)
    frame: np.ndarray  # int64 (N,), 0-based
    box: np.ndarray  # float64 (N, 4)
    world: np.ndarray  # float64 (N, 2)

    def __len__(self) -> int:
        return int(self.camera.shape[0])

    @classmethod
    def empty(cls) -> Rows:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros((0, 2))
        )

    @classmethod
    def from_array(cls, a: np.ndarray) -> Rows:
        a = np.asarray(a, dtype=np.float64).reshape(-1, NUM_COLUMNS)
        return cls(
            a[:, 0].astype(np.int64),
            a[:, 1].astype(np.int64),
            a[:, 2].astype(np.int64),
            a[:, 3:7].copy(),
            a[:, 7:9].copy(),
        )

    def to_array(self) -> np.ndarray:
        return np.column_stack([self.camera, self.obj, self.frame, self.box, self.world]).astype(np.float64)

    def select(self, mask: np.ndarray) -> Rows:
        return Rows(self.camera[mask], self.obj[mask], self.frame[mask], self.box[mask], self.world[mask])

    def sorted(self) -> Rows:
        order = np.lexsort((self.obj, self.camera, self.frame))
        return self.select(order)

    @classmethod
    def concat(cls, parts: Iterable[Rows]) -> Rows:
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("camera", "obj", "frame", "box", "world"))
        )


def _check_values(rows: Rows, path: Path, first_line: np.ndarray) -> None:
    """Reject values no valid file holds; ``first_line`` maps row index to file line number."""
    checks = [
        (rows.frame < 0, "frame_id", "a frame id >= 0 (is the file 1-based? use --frame-base 1)"),
        (rows.camera < 0, "camera_id", "a camera id >= 0"),
        (~np.all(np.isfinite(rows.box), axis=1), "xmin..height", "finite box numbers"),
        ((rows.box[:, 2] < 0) | (rows.box[:, 3] < 0), "width/height", "a non-negative box size"),
        (~np.all(np.isfinite(rows.world), axis=1), "xworld/yworld", "finite world coordinates"),
    ]
    for bad, field, expected in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(path, f"expected {expected}", field=field, line=int(first_line[i]))


def read_rows(path: str | Path, frame_base: int = 0) -> Rows:
    """Read an AIC24 ground-truth or results file, checking every row.

    Errors name the file and line: a row with the wrong number of columns, a non-number, an
    id that is not an integer or a negative frame (after ``frame_base`` is subtracted).
    """
    return read_rows_with_lines(path, frame_base)[0]


def read_rows_with_lines(path: str | Path, frame_base: int = 0) -> tuple[Rows, np.ndarray]:
    """``read_rows`` and, per row, its line number in the file (for messages about single rows)."""
    path = Path(path)
    if frame_base not in (0, 1):
        raise InputError(path, f"frame base must be 0 or 1, got {frame_base}", field="frame_base")
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        # Fast path (C parser); any irregular file falls through to the checking parser below,
        # which finds the offending line.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(path, dtype=np.float64, comments="#", ndmin=2)
        if table.shape[0] and table.shape[1] != NUM_COLUMNS:
            raise ValueError("column count")
        line_numbers = _data_line_numbers(path) if table.shape[0] else np.zeros(0, np.int64)
    except (ValueError, UserWarning):
        table, line_numbers = _parse_checked(path)
    if not table.shape[0]:
        return Rows.empty(), np.zeros(0, np.int64)
    ids = table[:, :3]
    not_int = ~np.all(np.isfinite(ids) & (ids == np.round(ids)), axis=1)
    if not_int.any():
        i = int(np.argmax(not_int))
        j = int(np.argmax(~(np.isfinite(ids[i]) & (ids[i] == np.round(ids[i])))))
        raise InputError(
            path, f"expected an integer, got {float(ids[i, j]):g}", field=COLUMNS[j], line=int(line_numbers[i])
        )
    rows = Rows.from_array(table)
    rows.frame -= frame_base
    _check_values(rows, path, line_numbers)
    return rows, line_numbers


def _data_line_numbers(path: Path) -> np.ndarray:
    with path.open() as f:
        return np.array(
            [n for n, line in enumerate(f, start=1) if line.strip() and not line.lstrip().startswith("#")],
            dtype=np.int64,
        )


def _parse_checked(path: Path) -> tuple[np.ndarray, np.ndarray]:
    line_numbers: list[int] = []
    values: list[list[float]] = []
    with path.open() as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.replace(",", " ").split()
            if len(parts) != NUM_COLUMNS:
                raise InputError(
                    path, f"expected {NUM_COLUMNS} columns ({' '.join(COLUMNS)}), got {len(parts)}", line=lineno
                )
            try:
                values.append([float(p) for p in parts])
            except ValueError:
                j = next(k for k, p in enumerate(parts) if not _is_number(p))
                raise InputError(path, f"expected a number, got {parts[j]!r}", field=COLUMNS[j], line=lineno) from None
            line_numbers.append(lineno)
    table = np.array(values, dtype=np.float64).reshape(-1, NUM_COLUMNS)
    return table, np.array(line_numbers, dtype=np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_rows(rows: Rows) -> str:
    """Rows as text: integer ids and box, world coordinates to the millimetre."""
    if not len(rows):
        return ""
    box = np.rint(rows.box).astype(np.int64)
    lines = [
        f"{c} {o} {fr} {b[0]} {b[1]} {b[2]} {b[3]} {w[0]:.3f} {w[1]:.3f}"
        for c, o, fr, b, w in zip(
            rows.camera.tolist(), rows.obj.tolist(), rows.frame.tolist(), box.tolist(), rows.world.tolist(), strict=True
        )
    ]
    return "\n".join(lines) + "\n"


def write_rows(path: str | Path, rows: Rows) -> None:
    with ResultsWriter(path) as w:
        w.write(rows)


class ResultsWriter:
    """Appends rows as they are produced and finishes atomically.

    Rows go to ``<path>.partial``, flushed after every ``write`` (one frame), so a crash loses
    at most the frame in flight and leaves the partial file to inspect. ``close`` renames it to
    the final name, so a file at the final name is always complete.
    """

    def __init__(self, path: str | Path, resume: tuple[int, int] | None = None) -> None:
        """``resume``: (byte offset, rows) of a run that stopped: the partial file is cut back to that offset
        (what was written after it is about to be written again) and appended to."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.rows_written = 0
        if resume is None:
            self._f = self.partial.open("w")
            return
        offset, self.rows_written = resume
        if not self.partial.is_file() or self.partial.stat().st_size < offset:
            raise InputError(self.partial, f"cannot resume at byte {offset}: the partial results are shorter or gone")
        self._f = self.partial.open("r+")
        self._f.truncate(offset)
        self._f.seek(offset)

    def offset(self) -> int:
        """Bytes written so far (flushed after every write)."""
        return self._f.tell()

    def write(self, rows: Rows) -> None:
        self.write_text(format_rows(rows), len(rows))

    def write_text(self, text: str, rows: int) -> None:
        """Append already formatted lines (``rows`` of them) and flush."""
        if text:
            self._f.write(text)
        self._f.flush()
        self.rows_written += rows

    def close(self) -> None:
        if self._f.closed:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Stop without renaming: the partial file keeps everything written so far."""
        if not self._f.closed:
            self._f.flush()
            self._f.close()
            log.warning("results left incomplete in %s (%d rows)", self.partial, self.rows_written)

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


SUBMISSION_NAME = "track1_submission.txt"


def merge_results(results_dir: str | Path, out: str | Path | None = None, frame_base: int = 0) -> tuple[Path, int]:
    """Concatenate ``scene_*.txt`` into ``track1_submission.txt``, checking every row.

    Returns the output path and the number of rows. A camera id appearing in two scenes is an
    error: camera ids are global in AIC24, so that means two runs were mixed up.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(results_dir, "results directory not found")
    files = sorted(p for p in results_dir.glob("scene_*.txt") if p.is_file())
    if not files:
        raise InputError(results_dir, "no scene_*.txt files to merge")
    out = Path(out) if out else results_dir / SUBMISSION_NAME
    camera_owner: dict[int, Path] = {}
    parts = []
    for f in files:
        rows = read_rows(f, frame_base=frame_base)
        for cam in np.unique(rows.camera).tolist():
            if cam in camera_owner:
                raise InputError(
                    f,
                    f"camera {cam} also appears in {camera_owner[cam].name}; expected each camera in one scene",
                    field="camera_id",
                )
            camera_owner[cam] = f
        parts.append(rows)
    merged = Rows.concat(parts)
    write_rows(out, merged)
    return out, len(merged)
