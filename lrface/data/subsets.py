"""The paper's data variants as options on a split dict: low resolution (Fig. 6), few-sample (Fig. 7).

``few_sample_subset`` is the one in ``splits.py`` (the face trainer's), re-exported here so both
scenarios draw their subsets with the same function.
"""

from __future__ import annotations

import numpy as np

from ..preprocess import resize_uint8
from .splits import few_sample_subset

__all__ = ["Splits", "apply_variants", "few_sample_subset"]

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def apply_variants(splits: Splits, low_res: int | None = None, fraction: float = 1.0, seed: int = 5) -> Splits:
    """Downsample every split to ``low_res`` x ``low_res`` (area) and keep ``fraction`` of each train class."""
    out = {}
    for name, (images, labels) in splits.items():
        if name == "train" and fraction < 1:
            idx = few_sample_subset(labels, fraction, seed)
            images, labels = images[idx], labels[idx]
        if low_res:
            images = resize_uint8(images, low_res)
        out[name] = (images, labels)
    return out
