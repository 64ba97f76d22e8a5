"""Low-resolution degradation of aligned crops: optional blur, down-sampling, noise, JPEG (albumentations)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import albumentations as A
import cv2
import numpy as np

INTERPOLATION = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC}


@dataclass(frozen=True)
class Degradation:
    """size: target side (8..64); blur: max Gaussian sigma at the working size; noise: max Gaussian
    noise std in 0..255 units at the target size; jpeg_quality: 1..100 re-compression, 0 = off."""

    size: int = 16
    downsample: str = "area"
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def pipeline(self) -> A.Compose:
        steps = []
        if self.blur > 0:
            steps.append(A.GaussianBlur(blur_limit=0, sigma_limit=(min(0.3, self.blur), self.blur), p=1.0))
        steps.append(A.Resize(self.size, self.size, interpolation=INTERPOLATION[self.downsample], p=1.0))
        if self.noise > 0:
            steps.append(A.GaussNoise(std_range=(0.0, min(self.noise / 255.0, 1.0)), p=1.0))
        if self.jpeg_quality > 0:
            steps.append(
                A.ImageCompression(compression_type="jpeg", quality_range=(self.jpeg_quality, self.jpeg_quality), p=1.0)
            )
        return A.Compose(steps)


def item_seed(seed: int, key: str) -> int:
    """A stable per-item seed, independent of processing order, workers and resumes."""
    return int.from_bytes(hashlib.sha1(f"{seed}:{key}".encode()).digest()[:4], "little")


def degrade(crop: np.ndarray, pipeline: A.Compose, seed: int) -> np.ndarray:
    """Apply ``pipeline`` to one uint8 RGB crop with its own seed; returns uint8 size x size x 3."""
    pipeline.set_random_seed(seed)
    return np.ascontiguousarray(pipeline(image=crop)["image"], dtype=np.uint8)
