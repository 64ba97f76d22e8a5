"""Train-time degradation: a fresh low-resolution view of a higher-resolution face at every draw.

With ``augment.degrade`` the training split stays at the size its packed set was prepared at (e.g. 64x64),
and after the geometric augmentation each image is blurred (at the native size), down-sampled to
``data.image_size`` with a filter drawn per image, given Gaussian noise and JPEG-compressed, every
strength drawn per image (albumentations). Test, val and val_open are resized once with
``resize_uint8`` (area), exactly as without the option, so validation compares across the two.
"""

from __future__ import annotations

import albumentations as A
import cv2

from ..config import AugmentConfig

FILTERS = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "lanczos": cv2.INTER_LANCZOS4,
}


def degrade_ops(cfg: AugmentConfig, image_size: int) -> list:
    """Blur at the native size, a random-filter resize to ``image_size``, noise, JPEG (the ones switched on)."""
    ops = []
    if cfg.degrade_blur > 0:
        ops.append(A.GaussianBlur(blur_limit=0, sigma_limit=(0.0, cfg.degrade_blur), p=1.0))
    ops.append(A.OneOf([A.Resize(image_size, image_size, interpolation=FILTERS[f]) for f in cfg.degrade_filters], p=1))
    if cfg.degrade_noise > 0:
        ops.append(A.GaussNoise(std_range=(0.0, cfg.degrade_noise / 255.0), p=1.0))
    if cfg.degrade_jpeg > 0:
        ops.append(A.ImageCompression(compression_type="jpeg", quality_range=(cfg.degrade_jpeg, 95), p=1.0))
    return ops
