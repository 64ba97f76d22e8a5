"""The supervised contrastive term (beyond the paper): each face's own person ranked above everyone else in the batch.

Khosla et al., "Supervised Contrastive Learning" (NeurIPS 2020), its L_out form, on the student's L2-normalised
embeddings of a batch: for an anchor i whose person has other faces P(i) in the batch, with s the cosines and tau a
temperature, L_i = -1/|P(i)| sum_{p in P(i)} log(exp(s_ip / tau) / sum_{a != i} exp(s_ia / tau)); L_supcon is the mean
over the anchors that have a P(i). Where the classifier pulls each face towards its class weight, this pulls a
person's faces towards each other and away from the batch's strangers: the comparison a gallery makes. It needs
batches holding several faces per person (``train.per_identity``). Added to the student's Eq. 11 sum with weight
``loss.supcon`` (Strategy.stream_loss), not ramped.
"""

from __future__ import annotations

import torch

from .relation import similarity


def supcon_loss(feature: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """L_supcon of the rows of ``feature`` (N x d) with identity ``labels`` (N); 0 where no label repeats."""
    others = ~torch.eye(feature.shape[0], dtype=torch.bool, device=feature.device)
    pos = (labels[:, None] == labels[None, :]) & others
    anchors = pos.any(1)
    if not bool(anchors.any()):
        return feature.new_zeros((), dtype=torch.float32)
    logits = (similarity(feature) / tau).masked_fill(~others, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -(log_prob.masked_fill(~pos, 0.0).sum(1)) / pos.sum(1).clamp(min=1)
    return per_anchor[anchors].mean()
