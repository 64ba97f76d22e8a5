"""The backbone contract every registered model follows, so a Stream can attach guided modules."""

from __future__ import annotations

import torch
from torch import nn


class Backbone(nn.Module):
    """stem -> blocks[0..C-1] -> neck -> global average pool -> feature -> fc -> logits.

    Subclasses set ``stem`` (default identity), ``blocks`` (nn.ModuleList), ``block_channels``,
    ``block_strides`` (the spatial stride each block applies), ``feature_dim`` and ``fc``; ``neck``
    (default identity) runs on the last block's map before pooling.
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Identity()
        self.neck = nn.Identity()

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of each of the C blocks, shallow to deep."""
        outs = []
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        return outs

    def head(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = torch.flatten(nn.functional.adaptive_avg_pool2d(self.neck(last), 1), 1)
        return self.fc(feature), feature

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.forward_blocks(x)[-1])
