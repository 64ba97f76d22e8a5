"""Device-resident data path: the training split lives on the device as uint8 and batches are
gathered, augmented and normalised there with torch ops (no DataLoader workers, no host copies).

``normalize`` is the torch twin of ``lrface.preprocess.preprocess`` for images already at the
model's size; a test checks that the two agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import AugmentConfig
from ..preprocess import PreprocessSpec
from . import lighting


def normalize(images: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """uint8 (or float 0..255) N x H x W x 3 at spec.size -> float32 N x 3 x H x W, as preprocess()."""
    if images.shape[1] != spec.size or images.shape[2] != spec.size:
        raise ValueError(f"device path expects images at {spec.size}x{spec.size}, got {tuple(images.shape[1:3])}")
    x = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(spec.mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """CIFAR-style random crop of each image (N x C x H x W) zero-padded by ``pad``: a whole-pixel offset in
    [-pad, pad] per axis, as the host path's PadIfNeeded + RandomCrop."""
    n, _, h, w = x.shape
    offset = torch.randint(0, 2 * pad + 1, (2, n), generator=gen, device=x.device)
    rows = (offset[0, :, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (offset[1, :, None] + torch.arange(w, device=x.device))[:, None, :]
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].permute(0, 3, 1, 2)


def augment(images: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Pad+crop (CIFAR-style sets), random flip, shift (for a share shift_p of the images) / scale / rotation
    (one affine grid per image), brightness/contrast; uint8 in, float 0..255 out.

    With augment.lighting / gamma / grey (data/lighting.py): shading and gamma before brightness/contrast, grey last.
    """
    n = images.shape[0]
    x = images.permute(0, 3, 1, 2).float()
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    if cfg.pad_crop:
        x = pad_crop(x, cfg.pad_crop, gen)
    scale = uniform(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else torch.ones(n, device=dev)
    angle = uniform(-cfg.rotate, cfg.rotate) * (math.pi / 180) if cfg.rotate else torch.zeros(n, device=dev)
    flip = (
        torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -1.0, 1.0)
        if cfg.flip
        else torch.ones(n, device=dev)
    )
    shift = 2 * cfg.shift  # a fraction of the side is twice that in grid units (-1..1)
    tx, ty = (uniform(-shift, shift), uniform(-shift, shift)) if shift else (torch.zeros(n, device=dev),) * 2
    if shift and cfg.shift_p < 1:  # the shift on a share of the images only
        keep = (torch.rand(n, generator=gen, device=dev) < cfg.shift_p).float()
        tx, ty = tx * keep, ty * keep
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if cfg.lighting:
        x = lighting.shade(x, cfg, gen)
    if cfg.gamma:
        x = lighting.gamma(x, cfg, gen)
    if cfg.brightness_contrast:
        bc = cfg.brightness_contrast
        alpha = uniform(1 - bc, 1 + bc).view(n, 1, 1, 1)
        beta = (uniform(-bc, bc) * 255).view(n, 1, 1, 1)
        x = x * alpha + beta
    if cfg.grey:
        x = lighting.grey(x.clamp(0, 255), cfg, gen)
    return x.clamp(0, 255).permute(0, 2, 3, 1)
