"""A stream = backbone split into C blocks + guided modules after blocks b = 1..C-1 (docs/design/ekd-paper-reading.md).

Guided module: 1x1 reduce -> 3x3 conv(s), strided until the spatial size equals the last block's
-> 1x1 to D -> BN/ReLU -> global average pool -> F_g^(b) in R^D -> FC -> logits. D is shared by
both streams. Where the stream's own feature size d_k differs from D, or its feature is not the
pooled map (a signed embedding layer, models/base.py), a training-only linear regressor D -> d_k maps
F_g^(b) for the within-stream L2 of Eq. 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


class GuidedModule(nn.Module):
    def __init__(self, cin: int, downsamples: int, dim: int, width: int, num_classes: int):
        super().__init__()
        layers = [nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        for i in range(max(downsamples, 1)):
            stride = 2 if i < downsamples else 1
            layers += [
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        layers += [
            nn.Conv2d(width, dim, 1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
        ]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.body(fmap)
        return self.fc(feature), feature


@dataclass
class StreamOutput:
    logits: torch.Tensor
    feature: torch.Tensor
    guided_logits: list[torch.Tensor] = field(default_factory=list)
    guided_features: list[torch.Tensor] = field(default_factory=list)  # F_g^(b), D-dim (Eq. 7)
    guided_regressed: list[torch.Tensor] = field(default_factory=list)  # F_g^(b) mapped to d_k (Eq. 4)

    def rows(self, n: int) -> StreamOutput:
        """The first ``n`` rows (the labeled part of a batch with embed_kd.unlabeled faces appended)."""
        if n == self.logits.shape[0]:
            return self
        r = lambda ts: [t[:n] for t in ts]  # noqa: E731
        return StreamOutput(
            self.logits[:n], self.feature[:n], r(self.guided_logits), r(self.guided_features), r(self.guided_regressed)
        )

    def detach(self) -> StreamOutput:
        d = lambda ts: [t.detach() for t in ts]  # noqa: E731
        return StreamOutput(
            self.logits.detach(),
            self.feature.detach(),
            d(self.guided_logits),
            d(self.guided_features),
            d(self.guided_regressed),
        )


def guided_positions(num_blocks: int, count: int, blocks: list[int] | None = None) -> list[int]:
    """0-based block indices that get a guided module: explicit ``blocks`` (1-based) or the deepest ``count``."""
    if blocks:
        return sorted(b - 1 for b in blocks)
    return list(range(num_blocks - 1 - count, num_blocks - 1))


class Stream(nn.Module):
    """Backbone + guided modules (+ regressors). ``backbone`` alone is what gets exported."""

    def __init__(self, backbone: nn.Module, num_classes: int, positions: list[int], dim: int, width: int = 64):
        super().__init__()
        self.backbone = backbone
        nblocks = len(backbone.blocks)
        if any(p < 0 or p >= nblocks - 1 for p in positions):
            raise ValueError(f"guided modules attach after blocks 1..{nblocks - 1}, got {[p + 1 for p in positions]}")
        self.positions = list(positions)
        strides = backbone.block_strides
        self.guided = nn.ModuleList(
            GuidedModule(
                backbone.block_channels[p], int(round(math.log2(math.prod(strides[p + 1 :])))), dim, width, num_classes
            )
            for p in self.positions
        )
        embedded = not isinstance(backbone.embed, nn.Identity)  # Backbone contract: identity unless a layer is set
        need_reg = (backbone.feature_dim != dim or embedded) and self.positions
        self.regressors = (
            nn.ModuleList(nn.Linear(dim, backbone.feature_dim) for _ in self.positions) if need_reg else None
        )

    def forward(self, x: torch.Tensor) -> StreamOutput:
        fmaps = self.backbone.forward_blocks(x)
        logits, feature = self.backbone.head(fmaps[-1])
        out = StreamOutput(logits, feature)
        for i, (p, gm) in enumerate(zip(self.positions, self.guided)):
            g_logits, g_feat = gm(fmaps[p])
            out.guided_logits.append(g_logits)
            out.guided_features.append(g_feat)
            out.guided_regressed.append(self.regressors[i](g_feat) if self.regressors is not None else g_feat)
        return out
