"""The spread-out regulariser (beyond the paper): different people's embeddings spread over the sphere.

Global orthogonal regularisation (Zhang et al., "Learning Spread-out Local Feature Descriptors", ICCV 2017),
here on the student's embeddings of a batch: over the pairs of rows whose labels differ, with s their cosine
and d the embedding width, L_spread = M1^2 + max(0, M2 - 1/d), M1 the mean of s and M2 the mean of s^2. Two
independent directions drawn uniformly on the d-sphere have M1 = 0 and M2 = 1/d; a heavier right tail of
stranger cosines, which is what sets the threshold at a low false-accept rate, raises M2. Added to the
student's Eq. 11 sum with weight ``loss.spread`` (Strategy.stream_loss), not ramped.
"""

from __future__ import annotations

import torch

from .relation import similarity


def spread_out_loss(feature: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_spread of the rows of ``feature`` (N x d) with identity ``labels`` (N); 0 where no two labels differ."""
    diff = labels[:, None] != labels[None, :]
    if not bool(diff.any()):
        return feature.new_zeros((), dtype=torch.float32)
    s = similarity(feature)[diff]
    return s.mean() ** 2 + torch.clamp((s * s).mean() - 1.0 / feature.shape[1], min=0.0)
