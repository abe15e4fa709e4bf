"""Errors the CLI prints as one line: bad input (exit code 2), cameras that failed under --strict (3)."""

from __future__ import annotations

from os import PathLike


class InputError(Exception):
    """Bad input that the user can fix: names the file, the field (or line) and what was expected."""

    exit_code = 2

    def __init__(
        self,
        source: str | PathLike[str] | None,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.field = field
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]" if where else f"[{self.field}]"
        return f"{where}: {self.message}" if where else self.message


class CameraError(InputError):
    """Some cameras could not start and the run was asked to be strict about it."""

    exit_code = 3
