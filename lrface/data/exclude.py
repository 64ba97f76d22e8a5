"""``data.exclude``: leave out of training every identity named in other sources.

The transfer protocol pretrains on many identities without any person of the small target set it
later transfers to (``lrface train --init RUN``). ``data.exclude`` lists packed sets and/or identity
folders of such a target set; only their identity names are read (a packed set's manifest
``class_names``, an identity folder's sub-folder names), never their images. Identities are matched
by the plain name, also under ``data.merge: source`` (whose classes are ``<source>/<identity>``),
and removed before the open-set hold-out and the splits are drawn, so those are a function of the
remaining data alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..inference.folders import scan_identity_folder
from .packed import is_packed_set, read_packed_set


def source_paths(value, key: str = "data.exclude") -> list[str]:
    """A config key of face sets (``data.exclude``, ``embed_kd.unlabeled``) as a list of paths (one path may be given
    as a string)."""
    paths = [value] if isinstance(value, str) else list(value or [])
    for p in paths:
        if not isinstance(p, str) or not p:
            raise UserError(f"{key} entry {p!r} is not a path; list packed sets or identity folders")
    return paths


def excluded_names(paths: list[str]) -> set[str]:
    """Every identity name of the listed packed sets / identity folders (names only, no image is read)."""
    names: set[str] = set()
    for p in paths:
        root = Path(p).expanduser()
        if not root.exists():
            raise UserError(
                f"data.exclude {root} does not exist; list packed sets or identity folders whose people to leave out"
            )
        if is_packed_set(root):
            names.update(read_packed_set(root).class_names)
        elif root.is_dir():
            try:
                names.update(scan_identity_folder(root))
            except UserError as e:
                raise UserError(f"data.exclude: {e}") from None
        else:
            raise UserError(f"data.exclude {root} is neither a packed set nor an identity folder (<identity>/*.jpg)")
    return names


def drop_excluded(
    splits: dict[str, tuple], class_names: list[str], paths: list[str], names: set[str], prefixed: bool = False
) -> tuple[dict[str, tuple], list[str]]:
    """Remove the classes whose identity is in ``names`` from every split, labels renumbered densely.

    Each split is ``(images, labels, *arrays)``; every array is filtered alongside. ``prefixed``: class
    names are ``<source>/<identity>`` (``data.merge: source``) and are matched on the identity part.
    Prints one line saying what was removed (or that nothing was).
    """
    if not paths:
        return splits, class_names
    plain = [c.split("/", 1)[1] if prefixed else c for c in class_names]
    drop = np.array([n in names for n in plain], bool)
    listed = ", ".join(paths)
    if not drop.any():
        print(
            f"lrface: data.exclude ({listed}) names none of the training identities; nothing removed", file=sys.stderr
        )
        return splits, class_names
    if drop.all():
        raise UserError(
            f"data.exclude ({listed}) removes all {len(class_names)} training identities; "
            "exclude a set that shares only some people with data.path"
        )
    new_label = -np.ones(len(class_names), np.int64)
    new_label[~drop] = np.arange(int((~drop).sum()))
    out, removed = {}, 0
    for key, (images, labels, *arrays) in splits.items():
        labels = np.asarray(labels)
        keep = ~drop[labels]
        removed += int((~keep).sum())
        out[key] = (images[keep], new_label[labels[keep]], *(a[keep] for a in arrays))
    people = len({n for n, d in zip(plain, drop) if d})
    classes = f", {int(drop.sum())} classes" if int(drop.sum()) != people else ""
    print(
        f"lrface: data.exclude removed {people} identities ({removed} images{classes}) named in {listed}",
        file=sys.stderr,
    )
    return out, [c for c, d in zip(class_names, drop) if not d]
