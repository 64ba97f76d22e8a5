"""``embed_kd.unlabeled``: faces only the frozen model's terms learn from (no label is read).

The frozen model (embed_kd.py) needs no labels, so faces of people too shallow to train a class on (one or two
photos each) can still teach the student its within-batch structure. They are read like ``data.path``'s sources
(packed sets or identity folders, resized to ``data.image_size``), and a face is dropped where its identity
name, matched as the training data's class names are formed, is one the run keeps out of training:
``data.exclude``'s people and the open-set validation's (``data.val_identities``), so the validation that
picks best.pt stays unseen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from .multi import read_source
from .packed import check_face_found, is_packed_set, read_packed_set


def load_unlabeled(
    paths: list[str],
    size: int,
    held: set[str],
    excluded: set[str] = frozenset(),
    prefixed: bool = False,
    cache: bool = True,
    allow_no_face: bool = False,
) -> np.ndarray | None:
    """Every face of ``paths`` at ``size`` (N x size x size x 3 uint8) but those of the validation's identities
    ``held`` (class names of the training data: ``<folder>/<identity>`` where ``prefixed``, i.e. several sources
    under ``data.merge: source``) and of ``data.exclude``'s ``excluded`` (plain names, as data/exclude.py matches
    them); None without paths."""
    if not paths:
        return None
    parts, dropped = [], 0
    for p in paths:
        root = Path(p).expanduser()
        if not root.exists():
            raise UserError(f"embed_kd.unlabeled {root} does not exist; list packed sets or identity folders")
        if is_packed_set(root):
            check_face_found(read_packed_set(root), allow_no_face)
        images, labels, names, _ = read_source(root, size, cache, "embed_kd.unlabeled")
        out = np.array([n in excluded or (f"{root.name}/{n}" if prefixed else n) in held for n in names], bool)
        keep = ~out[labels] if len(names) else np.ones(len(labels), bool)
        dropped += int((~keep).sum())
        parts.append(images[keep])
    faces = np.concatenate(parts)
    if dropped:
        print(
            f"lrface: embed_kd.unlabeled: dropped {dropped} faces of people kept out of training "
            "(data.exclude, the open-set validation)",
            file=sys.stderr,
        )
    if len(faces) == 0:
        raise UserError(f"embed_kd.unlabeled ({', '.join(paths)}) holds no face the run may train on; list other sets")
    return faces
