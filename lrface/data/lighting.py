"""Photometric lighting augmentation (augment.lighting, augment.gamma, augment.grey): both backends.

What each op models (issue 21 item 4: faces under strong directional light):

* directional shading (``augment.lighting``, ``augment.lighting_strength``): one light source off to a side.
  Intensities are multiplied by a linear ramp ``1 + s r`` with ``r = ((x - 1/2) cos a + (y - 1/2) sin a) /
  ((|cos a| + |sin a|) / 2)`` in [-1, 1] across the face (x, y in 0..1), angle ``a`` drawn in 0..360 degrees and
  strength ``s`` in [0, lighting_strength]: between 1 - s and 1 + s, clipped to 0..255. This is A.Illumination's
  linear mode normalised at every angle, as the library normalises its own axis and diagonal cases (its
  general-angle gradient is not, e.g. at 200 degrees it darkens the whole face below 1 - s) and without its
  0.2 cap on s; ``DirectionalShading`` is that op as an albumentations transform (seeded by the Compose).
* gamma (``augment.gamma``): a camera's / display's non-linear response and exposure: ``255 (x/255)^g`` with
  g drawn uniformly in [exp(-gamma), exp(gamma)] (A.RandomGamma), every image.
* grey conversion (``augment.grey``): grey cameras and grey enrolment photos (ORL-like): ITU-R 601 weights
  0.299 R + 0.587 G + 0.114 B copied to the three channels (A.ToGray), with that probability per image.
* contrast stays augment.brightness_contrast (its op runs after shading and gamma, before grey).

``albumentations_ops`` builds the CPU ops; ``shade``, ``gamma`` and ``grey`` are their torch twins, vectorised
over the batch and driven by the trainer's ``torch.Generator`` (data/device.py). All are off by default; when
off no op is added and no random number is drawn, so the rest of the augmentation is bit-identical.
"""

from __future__ import annotations

import math
from typing import Any

import albumentations as A
import numpy as np
import torch

from ..config import AugmentConfig

GREY_WEIGHTS = (0.299, 0.587, 0.114)


def ramp_np(h: int, w: int, strength: float, angle_deg: float) -> np.ndarray:
    """The multiplicative shading ramp 1 + s r (module docstring), float32 H x W."""
    a = math.radians(angle_deg)
    c, sn = math.cos(a), math.sin(a)
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :] - 0.5
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None] - 0.5
    r = (x * c + y * sn) / ((abs(c) + abs(sn)) / 2)
    return (1 + strength * r).astype(np.float32)


class DirectionalShading(A.ImageOnlyTransform):
    """Directional shading: A.Illumination(mode="linear") normalised at every angle, uncapped (module docstring)."""

    def __init__(self, max_strength: float = 0.5, p: float = 0.5):
        super().__init__(p=p)
        self.max_strength = max_strength

    def get_params(self) -> dict[str, Any]:
        return {"strength": self.py_random.uniform(0, self.max_strength), "angle": self.py_random.uniform(0, 360)}

    def apply(self, img: np.ndarray, strength: float = 0.0, angle: float = 0.0, **params: Any) -> np.ndarray:
        ramp = ramp_np(img.shape[0], img.shape[1], strength, angle)
        out = img.astype(np.float32) * (ramp[..., None] if img.ndim == 3 else ramp)
        return np.clip(np.rint(out), 0, 255).astype(img.dtype) if img.dtype == np.uint8 else np.clip(out, 0, 1)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_strength",)


def shading_and_gamma_ops(cfg: AugmentConfig) -> list:
    """The albumentations ops that run before brightness/contrast (none when off)."""
    ops: list = []
    if cfg.lighting:
        ops.append(DirectionalShading(cfg.lighting_strength, p=cfg.lighting))
    if cfg.gamma:
        ops.append(A.RandomGamma(gamma_limit=(100 * math.exp(-cfg.gamma), 100 * math.exp(cfg.gamma)), p=1.0))
    return ops


def grey_ops(cfg: AugmentConfig) -> list:
    """The albumentations grey conversion, last (none when off)."""
    return [A.ToGray(num_output_channels=3, method="weighted_average", p=cfg.grey)] if cfg.grey else []


# ---- torch twins: x is float N x 3 x H x W in 0..255 ----


def shading_ramp(h: int, w: int, strength: torch.Tensor, angle_deg: torch.Tensor) -> torch.Tensor:
    """ramp_np for each (strength, angle) of the batch: N x 1 x H x W."""
    dev = strength.device
    a = angle_deg * (math.pi / 180)
    c, sn = torch.cos(a).view(-1, 1, 1), torch.sin(a).view(-1, 1, 1)
    x = torch.linspace(0, 1, w, device=dev).view(1, 1, w) - 0.5
    y = torch.linspace(0, 1, h, device=dev).view(1, h, 1) - 0.5
    r = (x * c + y * sn) / ((c.abs() + sn.abs()) / 2)
    return (1 + strength.view(-1, 1, 1) * r).unsqueeze(1)


def shade(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Directional shading with probability cfg.lighting per image (clipped to 0..255, as the uint8 op)."""
    n, _, h, w = x.shape
    dev = x.device
    on = torch.rand(n, generator=gen, device=dev) < cfg.lighting
    strength = torch.rand(n, generator=gen, device=dev) * cfg.lighting_strength
    angle = torch.rand(n, generator=gen, device=dev) * 360
    ramp = shading_ramp(h, w, strength, angle)
    return torch.where(on.view(n, 1, 1, 1), x * ramp, x).clamp(0, 255)


def gamma(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """255 (x / 255)^g, g uniform in [exp(-cfg.gamma), exp(cfg.gamma)] per image."""
    n = x.shape[0]
    lo, hi = math.exp(-cfg.gamma), math.exp(cfg.gamma)
    g = (torch.rand(n, generator=gen, device=x.device) * (hi - lo) + lo).view(n, 1, 1, 1)
    return 255 * (x.clamp(0, 255) / 255) ** g


def grey(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Grey conversion (ITU-R 601 weights, three equal channels) with probability cfg.grey per image."""
    n = x.shape[0]
    on = torch.rand(n, generator=gen, device=x.device) < cfg.grey
    wts = torch.tensor(GREY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    y = (x * wts).sum(1, keepdim=True).expand_as(x)
    return torch.where(on.view(n, 1, 1, 1), y, x)
