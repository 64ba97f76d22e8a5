"""The backbone contract every registered model follows, so a Stream can attach guided modules."""

from __future__ import annotations

import torch
from torch import nn


class Backbone(nn.Module):
    """stem -> blocks[0..C-1] -> neck -> global average pool -> embed -> feature -> fc -> logits.

    Subclasses set ``stem`` (default identity), ``blocks`` (nn.ModuleList), ``block_channels``,
    ``block_strides`` (the spatial stride each block applies), ``feature_dim`` and ``fc``; ``neck``
    (default identity) runs on the last block's map before pooling, ``embed`` (default identity; see
    ``embedding_layer``) on the pooled vector.
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Identity()
        self.neck = nn.Identity()
        self.embed = nn.Identity()

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of each of the C blocks, shallow to deep."""
        outs = []
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        return outs

    def head(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.embed(torch.flatten(nn.functional.adaptive_avg_pool2d(self.neck(last), 1), 1))
        return self.fc(feature), feature

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.forward_blocks(x)[-1])


EMBEDDINGS = ("pool", "linear_bn")


def embedding_layer(kind: str, dim: int) -> nn.Module:
    """What turns the pooled vector into the feature (the embedding and the classifier's input).

    ``pool``: the pooled vector itself (the paper; after a ReLU it is non-negative, so every cosine
    between two faces is >= 0). ``linear_bn``: a bias-free ``dim x dim`` linear map and a BatchNorm1d, the
    signed, batch-standardised embedding of face recognisers (facenet-pytorch's ``last_linear`` +
    ``last_bn``; ArcFace's output layer without its dropout).
    """
    if kind == "pool":
        return nn.Identity()
    if kind == "linear_bn":
        return nn.Sequential(nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim))
    raise ValueError(f"unknown embedding {kind!r}; choose one of {EMBEDDINGS}")
