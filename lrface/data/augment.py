"""Training augmentation for tiny images (albumentations), applied to uint8 RGB batches."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from ..config import AugmentConfig
from .degrade import degrade_ops
from .lighting import grey_ops, shading_and_gamma_ops


def _geometric(cfg: AugmentConfig, image_size: int, size: int) -> list:
    """Pad+crop (CIFAR-style sets), flip, shift (whole pixels of ``size``, the side these steps see; for a
    share ``shift_p`` of the images) / scale / rotation (fractions of the side: any size)."""
    ops = []
    if cfg.pad_crop:
        ops += [
            A.PadIfNeeded(
                image_size + 2 * cfg.pad_crop, image_size + 2 * cfg.pad_crop, border_mode=cv2.BORDER_CONSTANT, fill=0
            ),
            A.RandomCrop(image_size, image_size),
        ]
    if cfg.flip:
        ops.append(A.HorizontalFlip(p=0.5))
    if cfg.shift or cfg.scale or cfg.rotate:
        # albumentations turns translate_percent into int(fraction x side) pixels, truncated toward zero (0 for
        # 0.0625 of 16 px): the shift is given in whole pixels, the fraction of the side rounded, at least one.
        px = max(1, round(cfg.shift * size)) if cfg.shift else 0
        if px and cfg.shift_p < 1:  # the shift on a share of the images only: its own step
            ops.append(A.Affine(translate_px=(-px, px), border_mode=cv2.BORDER_REFLECT_101, p=cfg.shift_p))
            px = 0
        ops.append(
            A.Affine(
                translate_px=(-px, px),
                scale=(1 - cfg.scale, 1 + cfg.scale),
                rotate=(-cfg.rotate, cfg.rotate),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.8,
            )
        )
    return ops


def build_augment(cfg: AugmentConfig, image_size: int, seed: int, native_size: int | None = None) -> A.Compose | None:
    """Flip, small shift/scale/rotation, brightness/contrast (and pad+crop for CIFAR-style sets); with
    augment.lighting / gamma / grey also directional shading and gamma before brightness/contrast, grey last.

    With ``cfg.degrade`` the degradation to ``image_size`` (data/degrade.py) runs between the geometric
    steps (at ``native_size``, the side of the images given: the packed set's) and brightness/contrast;
    also where ``cfg.enabled`` is false, alone.
    """
    if not cfg.enabled and not cfg.degrade:
        return None
    if cfg.degrade and cfg.enabled and cfg.shift and native_size is None:
        raise ValueError("augment.degrade shifts at the images' native size: pass native_size")
    ops = _geometric(cfg, image_size, native_size if cfg.degrade else image_size) if cfg.enabled else []
    if cfg.degrade:
        ops += degrade_ops(cfg, image_size)
    if cfg.enabled:
        ops += shading_and_gamma_ops(cfg)  # augment.lighting / gamma (data/lighting.py): none when off
    if cfg.enabled and cfg.brightness_contrast:
        ops.append(A.RandomBrightnessContrast(cfg.brightness_contrast, cfg.brightness_contrast, p=0.8))
    if cfg.enabled:
        ops += grey_ops(cfg)
    return A.Compose(ops, seed=seed)


def augment_batch(aug: A.Compose | None, images: np.ndarray) -> np.ndarray:
    """Apply ``aug`` to each image of a uint8 N x H x W x 3 batch (a copy when aug is None)."""
    if aug is None:
        return np.array(images)
    return np.stack([aug(image=np.ascontiguousarray(im))["image"] for im in images])
