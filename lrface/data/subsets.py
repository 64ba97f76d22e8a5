"""The paper's low-resolution variant (Fig. 6) as an option on a split dict.

The few-sample variant (Fig. 7, ``data.fraction``) is applied once for every data source, in
``sources._finish``.
"""

from __future__ import annotations

import numpy as np

from ..preprocess import resize_uint8

__all__ = ["Splits", "apply_variants"]

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def apply_variants(splits: Splits, low_res: int | None = None) -> Splits:
    """Downsample every split to ``low_res`` x ``low_res`` (area)."""
    out = {}
    for name, (images, labels) in splits.items():
        if low_res:
            images = resize_uint8(images, low_res)
        out[name] = (images, labels)
    return out
