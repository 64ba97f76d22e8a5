"""Identity folders (``<root>/<identity>/...``) and identity-name validation (torch-free).

The one scanner of identity folders: training, lrface.prep, gallery and evaluate all read folders with
``scan_identity_folder``, so a nested folder counts the same everywhere (its images belong to the
top-level identity).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import UserError, WrongType
from ..imageio import is_image_file
from .threshold import UNKNOWN

MAX_NAME_CHARS = 255  # like a file-name component: room for any real name, none for a pasted blob


def check_identity_name(name: str) -> str:
    """Accept any printable name (spaces, unicode) of at most ``MAX_NAME_CHARS`` characters; refuse path
    tricks and control characters. Lookups of stored names pass it too, so stray spaces are refused only
    for new names (:func:`name_clash`)."""
    if not isinstance(name, str):
        raise WrongType(f"identity name {name!r} is not text; pass a str")
    name = unicodedata.normalize("NFC", name)
    if len(name) > MAX_NAME_CHARS:
        raise UserError(
            f"identity name {name[:20]!r}... is {len(name)} characters long; use a name of at most {MAX_NAME_CHARS}"
        )
    if not name.strip():
        raise UserError("identity name is empty; pass a non-empty --identity")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise UserError(
            f"identity name {name!r} looks like a path (contains '/', '\\' or a leading '.'); use a plain name"
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise UserError(f"identity name {name!r} contains control or unassigned characters; use printable text")
    if "\ufffd" in name:
        raise UserError(f"identity name {name!r} holds U+FFFD (bytes that were not UTF-8); send the name as UTF-8")
    return name


def identity_key(name: str) -> str:
    """What two names that differ only by case, Unicode width or spacing share: NFKC, casefolded, whitespace
    runs made one space, ends stripped ("Ann", "ann ", "ＡＮＮ" and "Ann\\xa0" share "ann")."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def identity_keys(names: Iterable[str]) -> dict[str, list[str]]:
    """:func:`identity_key` -> the names that have it, for :func:`name_clash` over many adds."""
    keys: dict[str, list[str]] = {}
    for n in names:
        keys.setdefault(identity_key(n), []).append(n)
    return keys


def claim_name(name: str, keys: dict[str, list[str]]) -> None:
    """UserError (:func:`name_clash`'s line) when ``name`` may not join the names of ``keys``
    (:func:`identity_keys`); else ``name`` is recorded in ``keys``, so later names are checked against it too."""
    problem = name_clash(name, keys)
    if problem:
        raise UserError(problem)
    same = keys.setdefault(identity_key(name), [])
    if name not in same:
        same.append(name)


def name_clash(name: str, existing: Iterable[str] | Mapping[str, list[str]]) -> str | None:
    """The one-line error for adding identity ``name`` (already checked) beside the enrolled ``existing``
    names (or their :func:`identity_keys`), or None. An enrolled name is always fine; a new one is refused when
    it equals an enrolled name but for case, width or spacing, has stray or non-space whitespace, or is
    "unknown" in any case (what a face below the threshold is answered)."""
    keys = existing if isinstance(existing, Mapping) else identity_keys(existing)
    same = keys.get(identity_key(name), [])
    if name in same:
        return None
    if identity_key(name) == UNKNOWN:
        return f"identity name {name!r} is the answer given for a face below the threshold; use another name"
    plain = " ".join(name.split())
    if same:
        other = sorted(same)[0]
        return (
            f"identity name {name!r} differs from the enrolled {other!r} only by case, width or spacing; "
            f"use {other!r} to add to it, or a name that differs in its letters"
        )
    if name != name.strip():
        return f"identity name {name!r} starts or ends with whitespace; use {plain!r}"
    odd = next((c for c in name if c.isspace() and c != " "), None)
    if odd is not None:
        return f"identity name {name!r} holds U+{ord(odd):04X} (not a plain space); use {plain!r}"
    return None


def list_images(path: Path) -> list[Path]:
    """Image files under ``path`` (recursive, sorted like paths), skipping hidden files and folders and
    not following links to folders; UserError for an unreadable folder or a broken/looping link."""
    found, todo = [], [os.fspath(path)]
    while todo:
        folder = todo.pop()
        try:
            with os.scandir(folder) as entries:
                for e in entries:
                    if e.name.startswith("."):
                        continue
                    if e.is_dir(follow_symlinks=False):
                        todo.append(e.path)
                    elif is_image_file(e.name):
                        if not _is_file(e):
                            raise UserError(f"{e.path}: a broken or looping link, or not a file; remove it")
                        found.append(e.path)
        except OSError as err:
            raise UserError(
                f"{folder}: cannot read the folder ({err.strerror or err}); fix its permissions or move it out"
            ) from None
    return [Path(f) for f in sorted(found, key=lambda f: f.split(os.sep))]


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a symbolic-link loop
        return False


def scan_identity_folder(root: str | Path) -> dict[str, list[Path]]:
    """identity -> image files for ``root/<identity>/...``; UserError when there is nothing usable."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a directory; pass a folder with one sub-folder per identity")
    out: dict[str, list[Path]] = {}
    keys: dict[str, str] = {}  # identity_key -> the first sub-folder's name (as on disk)
    try:
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise UserError(f"{root}: cannot read the folder ({err.strerror or err}); fix its permissions") from None
    for sub in subs:
        files = list_images(sub)
        if files:
            name = check_identity_name(sub.name)
            other = keys.setdefault(identity_key(name), sub.name)
            if other != sub.name:  # on disk: two Unicode spellings of one name are two folders
                raise UserError(
                    f"{root}: sub-folders {other!r} and {sub.name!r} differ only by case, width, spacing or Unicode "
                    "form and would be one person under two names; merge them into one folder or rename one"
                )
            out[name] = files
    if not out:
        raise UserError(f"{root}: no identity sub-folders with images (expected {root}/<identity>/*.jpg|png|...)")
    return out
