"""The single preprocessing function shared by training, export verification and identify.

Torch-free on purpose: serving imports this module with NumPy and OpenCV only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessSpec:
    """How raw uint8 RGB pixels become model input; stored in checkpoints and ONNX metadata."""

    size: int = 16
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    channel_order: str = "RGB"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessSpec:
        return cls(
            size=int(d["size"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            channel_order=str(d.get("channel_order", "RGB")),
        )


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 RGB image(s) (H x W x 3 or N x H x W x 3) to size x size with area averaging."""
    single = images.ndim == 3
    batch = images[None] if single else images
    if batch.shape[1] == size and batch.shape[2] == size:
        out = batch
    else:
        out = np.stack(
            [cv2.resize(np.ascontiguousarray(im), (size, size), interpolation=cv2.INTER_AREA) for im in batch]
        )
    return out[0] if single else out


def preprocess(images: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """uint8 RGB, N x H x W x 3 (or one H x W x 3) -> float32 N x 3 x size x size, normalised."""
    if images.dtype != np.uint8 or images.shape[-1] != 3 or images.ndim not in (3, 4):
        raise ValueError(f"preprocess expects uint8 RGB images (..., H, W, 3), got {images.dtype} {images.shape}")
    batch = resize_uint8(images[None] if images.ndim == 3 else images, spec.size)
    x = batch.astype(np.float32) / 255.0
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
