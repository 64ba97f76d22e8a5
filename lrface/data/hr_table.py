"""HR-teacher descriptors looked up by image content, so they follow every image through any split.

Packed sets store one descriptor per image (``<split>/hr_embeddings.npy``). Splitting, sub-sampling
and merging sources reorder the images; keying each descriptor on the image's bytes (a 16x16x3
uint8 face is 768 bytes) finds it again wherever the image went, without threading a parallel array
through every split function. Torch-free.
"""

from __future__ import annotations

import numpy as np


class HrTable:
    """Image bytes -> descriptor; ``name`` and ``dim`` of the teacher that made them."""

    def __init__(self):
        self.name, self.dim = "", 0
        self._rows: dict[bytes, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, images: np.ndarray, hr: np.ndarray, name: str) -> None:
        """Add the descriptors ``hr`` (N x d) of ``images`` (N x H x W x 3 uint8) from teacher ``name``."""
        if self._rows and (name != self.name or hr.shape[1] != self.dim):
            raise ValueError(
                f"HR descriptors of {name} ({hr.shape[1]}-d) cannot be mixed with {self.name} ({self.dim}-d)"
            )
        self.name, self.dim = name, int(hr.shape[1])
        images = np.ascontiguousarray(images, dtype=np.uint8)
        for im, row in zip(images, np.asarray(hr, dtype=np.float32)):
            self._rows.setdefault(im.tobytes(), row)

    def lookup(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x d float32 descriptors, N bool found) for ``images``; rows not found are zero."""
        out = np.zeros((len(images), self.dim), np.float32)
        found = np.zeros(len(images), bool)
        for i, im in enumerate(np.ascontiguousarray(images, dtype=np.uint8)):
            row = self._rows.get(im.tobytes())
            if row is not None:
                out[i], found[i] = row, True
        return out, found
