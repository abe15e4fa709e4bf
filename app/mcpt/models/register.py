"""Add a model to ``models/models.yaml`` (what ``mcpt train`` and ``mcpt adapt`` do with their results).

The manifest is edited as text so its comments stay: an entry of the same name is replaced, a new
one appended under ``models:``; the file is re-read and checked before it replaces the old one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from mcpt.errors import InputError
from mcpt.models.manifest import ROLES, Manifest, load_manifest, repo_root


def manifest_path_of(p: Path) -> str:
    """A path as the manifest writes it: relative to the checkout when inside it."""
    p = p.resolve()
    try:
        return str(p.relative_to(repo_root().resolve()))
    except ValueError:
        return str(p)


def _entry_text(name: str, entry: dict, comment: str) -> str:
    body = yaml.safe_dump({name: entry}, sort_keys=False, default_flow_style=None, width=110)
    lines = [f"  # {line}" for line in comment.splitlines()] + ["  " + line for line in body.splitlines()]
    return "\n".join(lines) + "\n"


def register_model(
    name: str, entry: dict, comment: str, default_role: str | None = None, manifest: str | Path | None = None
) -> Manifest:
    path = Path(manifest) if manifest else repo_root() / "models" / "models.yaml"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(None, f"expected letters, digits, '.', '-' or '_', got {name!r}", field="--name")
    text = path.read_text()
    block = _entry_text(name, entry, comment)
    # an existing entry: its comment lines just above it, its key line and its indented body
    existing = re.compile(rf"(?:^  #[^\n]*\n)*^  {re.escape(name)}:[^\n]*\n(?:^(?:    [^\n]*|\s*)\n)*", re.M)
    if existing.search(text):
        text = existing.sub(lambda _m: block + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    if default_role is not None:
        if default_role not in ROLES:
            raise InputError(None, f"expected one of {', '.join(ROLES)}", field="role")
        line = f"{default_role}: {name}"
        pattern = re.compile(rf"^{default_role}:[^\n]*$", re.M)
        text = pattern.sub(line, text, count=1) if pattern.search(text) else line + "\n" + text
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    try:
        load_manifest(tmp).get(name)
    except InputError:
        tmp.unlink()
        raise
    os.replace(tmp, path)
    return load_manifest(path)


def reid_entry(arch: str, onnx: Path, checkpoint: Path, height: int, width: int, dim: int) -> dict:
    return {
        "role": "reid",
        "source": {"path": manifest_path_of(checkpoint)},
        "architecture": arch,
        "input": {"width": width, "height": height, "color": "RGB", "range": "0-255", "letterbox": False},
        "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "in_graph": True},
        "embedding_dim": dim,
        "output": {"name": "embedding", "layout": f"[B, {dim}] L2-normalised"},
        "onnx": manifest_path_of(onnx),
    }
