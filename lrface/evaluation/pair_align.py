"""The images named in a pairs file, aligned and reduced to a model's input size, cached.

The first call runs lrface.prep on them exactly as `lrface prepare folder` does (MTCNN detection,
5-point alignment, the whole-image box crop where no face is found, area reduction to ``size``)
into a packed set under ``$LRFACE_CACHE/pairs/<key>`` (default ``~/.cache/lrface``); the key covers
the images folder, the list of images and the preparation settings. Later calls only read that set.
An interrupted first run resumes where it stopped (lrface.prep's chunked work cache).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from .. import fileio
from ..errors import UserError
from ..imageio import DECODE_VERSION
from .verification import PairsFile

# What decides the pixels: lrface.prep's defaults for `lrface prepare folder`, at the model's input size.
SETTINGS = {
    "prepare": "folder defaults",
    "downsample": "area",
    "fallback": "box",
    "version": 1,
    "decode": DECODE_VERSION,
}


def cache_root() -> Path:
    return fileio.cache_dir() / "pairs"


def check_images(pairs_file: PairsFile, images_dir: str | Path) -> Path:
    """The images folder, after checking that every image the pairs name is there (else: the first line)."""
    root = Path(images_dir)
    if not root.is_dir():
        raise UserError(f"{images_dir}: no such directory; pass the folder holding <Name>/<Name>_NNNN.jpg")
    for p in pairs_file.pairs:
        for key in (p.a, p.b):
            if not (root / key).is_file():
                raise UserError(f"{pairs_file.path}:{p.line}: image {key} not found under {root}")
    return root.resolve()


def cache_dir(pairs_file: PairsFile, root: Path, size: int) -> Path:
    h = hashlib.sha1(
        json.dumps(
            {"root": str(root), "size": size, **SETTINGS, "keys": sorted(pairs_file.keys)}, sort_keys=True
        ).encode()
    ).hexdigest()[:16]
    return cache_root() / f"{root.name}-{size}px-{h}"


def aligned_pair_images(pairs_file: PairsFile, images_dir: str | Path, size: int, log=print) -> tuple[dict, dict]:
    """({image key: uint8 size x size x 3 RGB}, {status: count}) for every image of the pairs file."""
    from ..data.packed import is_packed_set, read_packed_set

    root = check_images(pairs_file, images_dir)
    out = cache_dir(pairs_file, root, size)
    if not is_packed_set(out):
        log(f"aligning {len(pairs_file.keys)} images with MTCNN into {out} (once; later runs read the cache)")
        _prepare(pairs_file, root, out, size)
    ps = read_packed_set(out)
    images = np.asarray(ps.splits["all"][0])
    with open(out / "items.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_key, counts, duplicates = {}, {}, []
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        if r["status"] in ("aligned", "box-only"):
            by_key[r["source"]] = images[int(r["index"])]
        elif r["status"] == "skipped:duplicate":
            duplicates.append(r["source"])
        else:
            line = next(p.line for p in pairs_file.pairs if r["source"] in (p.a, p.b))
            raise UserError(
                f"{pairs_file.path}:{line}: image {r['source']} could not be used ({r['status']}); replace the file"
            )
    if duplicates:  # byte-identical files: lrface.prep keeps the first; give the copies its pixels
        digest = {k: hashlib.sha1((root / k).read_bytes()).hexdigest() for k in [*by_key, *duplicates]}
        first = {}
        for k in by_key:
            first.setdefault(digest[k], k)
        for k in duplicates:
            by_key[k] = by_key[first[digest[k]]]
    return by_key, counts


def _prepare(pairs_file: PairsFile, root: Path, out: Path, size: int) -> None:
    from ..extras import require

    require("train", "aligning the pairs' photos (MTCNN)")
    from ..prep.options import PrepareConfig
    from ..prep.pipeline import prepare
    from ..prep.readers import Item

    items = [Item(key=k, identity=k.split("/")[0], source=k, path=root / k) for k in sorted(pairs_file.keys)]
    prepare(items, out, PrepareConfig(size=size), kind="pairs", root=root, log=lambda m: None)
