"""Classifier heads: the paper's softmax (a plain Linear) or a margin head over normalised features.

Margin heads (``head.type``): logits are ``s * cos(theta_j)``, the cosine between the L2-normalised
feature and the L2-normalised weight of class j (no bias). Only the cross-entropy adds the margin to
the true class y (``margin_logits``):

- CosFace (Wang et al. 2018, LMCL): ``s * (cos(theta_y) - m)``;
- ArcFace (Deng et al. 2019, additive angular margin): ``s * cos(theta_y + m)``, and where
  ``theta_y + m > pi`` (not monotone there) ``s * (cos(theta_y) - m sin(m))``, as the reference code.

How EKD reads them: every KL term (Eq. 3, 6) and every top-1 use the scaled cosine logits *without*
the margin (the margin is a training-time handicap on the true class, not part of the prediction a
teacher passes on); the cross-entropy of Eq. 9 uses the margin logits. One head type serves both
streams and every guided classifier.

The head is training-only for open-set use: the deployed model is the embedding network; the
classifier's ``num_classes x D`` weights grow with the training identities (see docs/train.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HEAD_TYPES = ("softmax", "cosface", "arcface")


class CosineClassifier(nn.Module):
    """``s * cos(theta)`` between the normalised input and normalised class weights (no bias)."""

    def __init__(self, in_features: int, num_classes: int, s: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)
        self.s = float(s)

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s * F.linear(F.normalize(x.float(), dim=1), F.normalize(self.weight.float(), dim=1))


def margin_logits(logits: torch.Tensor, labels: torch.Tensor, kind: str, s: float, m: float) -> torch.Tensor:
    """The margin-penalised logits for the cross-entropy; ``logits`` are ``s * cos`` from CosineClassifier."""
    if kind == "softmax" or m == 0:
        return logits
    y = labels.view(-1, 1)
    cos = logits.float().gather(1, y) / s
    if kind == "cosface":
        target = cos - m
    elif kind == "arcface":
        c = cos.clamp(-1 + 1e-7, 1 - 1e-7)
        shifted = c * math.cos(m) - torch.sqrt(1 - c * c) * math.sin(m)  # cos(theta + m)
        target = torch.where(c > math.cos(math.pi - m), shifted, c - m * math.sin(m))
    else:
        raise ValueError(f"unknown head type {kind!r}")
    return logits.float().scatter(1, y, s * target)


def attach_head(model: nn.Module, kind: str, s: float) -> nn.Module:
    """Replace ``model.fc`` (a Linear) by a CosineClassifier for margin heads; softmax keeps the Linear."""
    if kind != "softmax":
        fc = model.fc
        model.fc = CosineClassifier(fc.in_features, fc.out_features, s)
    return model
