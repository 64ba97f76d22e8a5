"""The data side of ``augment.degrade``: the training split stays at its packed set's native size.

The degradation to ``data.image_size`` then happens at every draw (data/degrade.py); every other
split is resized here once with ``resize_uint8``, as loading does without the option, so test, val
and val_open hold exactly the images a run without degradation sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..preprocess import resize_uint8

Split = tuple[np.ndarray, np.ndarray]


def check_native_size(root: Path, native: int, size: int) -> None:
    """One line unless the packed set at ``root`` is larger than the training size."""
    if native <= size:
        raise UserError(
            f"augment.degrade needs images larger than data.image_size {size}, and {root} holds {native}x{native}; "
            "prepare it at a larger --size (e.g. lrface prepare folder ... --size 64) or set augment.degrade=false"
        )


def refuse_folder(root: Path) -> None:
    """Identity folders are read at the training size only: degrade needs a packed set."""
    raise UserError(
        f"augment.degrade needs packed sets, and {root} is not one; pack it at a larger size "
        f"(lrface prepare folder {root} --out DIR --size 64) or set augment.degrade=false"
    )


def resize_eval_splits(splits: dict[str, Split], size: int) -> dict[str, Split]:
    """Every split but ``train`` resized to ``size`` x ``size`` (area), labels unchanged."""
    return {k: v if k == "train" else (_resize(v[0], size), v[1]) for k, v in splits.items()}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((0, size, size, images.shape[-1] if images.ndim == 4 else 3), np.uint8)
    return resize_uint8(images, size)
