"""Tiny-ImageNet-200 from its official folder layout under a local root.

``tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/images/*.JPEG, val/val_annotations.txt,
val/images/*.JPEG}``; ROOT may be the parent or ``tiny-imagenet-200`` itself. The labelled
``val`` split is returned as ``test`` (the official test split has no labels). Labels index the
wnids in sorted order, as torchvision's ImageFolder would number the train folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imageio import read_image
from .subsets import Splits, apply_variants

FOLDER = "tiny-imagenet-200"
SIZE = 64
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def _read_images(paths: list[Path]) -> np.ndarray:
    out = np.empty((len(paths), SIZE, SIZE, 3), np.uint8)
    for i, p in enumerate(paths):
        im = read_image(p)
        if im.shape != (SIZE, SIZE, 3):
            raise UserError(f"{p}: Tiny-ImageNet images are {SIZE}x{SIZE}, this one is {im.shape[1]}x{im.shape[0]}")
        out[i] = im
    return out


def _class_names(folder: Path, wnids: list[str]) -> list[str]:
    """First synonym from words.txt (the wnid where missing); repeated names get their wnid appended."""
    words = {}
    if (folder / "words.txt").is_file():
        for line in (folder / "words.txt").read_text(encoding="utf-8").splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid.strip()] = text.split(",")[0].strip()
    names = [words.get(w) or w for w in wnids]
    return [f"{n} ({w})" if names.count(n) > 1 else n for n, w in zip(names, wnids)]


def load_tiny_imagenet(
    root: str | Path, download: bool = False, low_res: int | None = None
) -> tuple[Splits, list[str]]:
    """``({"train": (uint8 N x 64 x 64 x 3, int64 N), "test": ...}, class_names)``; options as in ``load_cifar``."""
    if download:
        raise UserError(
            f"torchvision has no Tiny-ImageNet dataset class, so lrface cannot download it; "
            f"fetch {URL}, unzip it under the data root and set data.download=false"
        )
    root = Path(root).expanduser()
    folder = root if (root / "wnids.txt").is_file() else root / FOLDER
    expected = ["wnids.txt", "train", "val/val_annotations.txt", "val/images"]
    missing = [e for e in expected if not (folder / e).exists()]
    if missing:
        raise UserError(
            f"no {FOLDER}/{missing[0]} under {root} (expected {', '.join(expected)} in {FOLDER}/); "
            f"fetch {URL} and unzip it there"
        )
    wnids = sorted({w.strip() for w in (folder / "wnids.txt").read_text(encoding="utf-8").split() if w.strip()})
    if not wnids:
        raise UserError(f"{folder / 'wnids.txt'} lists no classes")
    index = {w: i for i, w in enumerate(wnids)}

    train_paths, train_labels = [], []
    for w in wnids:
        files = sorted(p for p in (folder / "train" / w / "images").glob("*") if p.suffix.lower() == ".jpeg")
        if not files:
            raise UserError(f"no images in {FOLDER}/train/{w}/images under {root}; the archive looks incomplete")
        train_paths += files
        train_labels += [index[w]] * len(files)

    test_paths, test_labels = [], []
    ann = folder / "val" / "val_annotations.txt"
    for n, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise UserError(f"{ann}:{n}: expected '<file>\\t<wnid from wnids.txt>\\t...', got {line!r}")
        test_paths.append(folder / "val" / "images" / parts[0])
        test_labels.append(index[parts[1]])

    splits = {
        "train": (_read_images(train_paths), np.asarray(train_labels, np.int64)),
        "test": (_read_images(test_paths), np.asarray(test_labels, np.int64)),
    }
    return apply_variants(splits, low_res), _class_names(folder, wnids)
