"""Identity folders (``<root>/<identity>/*.{jpg,...}``) and identity-name validation (torch-free)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from ..errors import UserError
from ..imageio import is_image_file


def check_identity_name(name: str) -> str:
    """Accept any printable name (spaces, unicode); refuse path tricks and control characters."""
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise UserError("identity name is empty; pass a non-empty --identity")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise UserError(f"identity name {name!r} looks like a path (contains '/', '\\' or a leading '.'); "
                        "use a plain name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise UserError(f"identity name {name!r} contains control or unassigned characters; use printable text")
    return name


def list_images(path: Path) -> list[Path]:
    """Image files under ``path`` (recursive, sorted like paths), skipping hidden files and folders and
    not following links to folders."""
    found, todo = [], [os.fspath(path)]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False):
                    todo.append(e.path)
                elif is_image_file(e.name) and e.is_file():
                    found.append(e.path)
    return [Path(f) for f in sorted(found, key=lambda f: f.split(os.sep))]


def scan_identity_folder(root: str | Path) -> dict[str, list[Path]]:
    """identity -> image files for ``root/<identity>/...``; UserError when there is nothing usable."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a directory; pass a folder with one sub-folder per identity")
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = list_images(sub)
        if files:
            out[check_identity_name(sub.name)] = files
    if not out:
        raise UserError(f"{root}: no identity sub-folders with images (expected {root}/<identity>/*.jpg|png|...)")
    return out
