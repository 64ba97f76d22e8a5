"""The EKD losses, one function per equation of the paper (numbers as in the paper; docs/design/ekd-paper-reading.md).

Every KL is KL(p_teacher^T || p_student^T) * T^2 (Hinton scaling), batch-mean. Every L2 (Eq. 4, 7) is,
by ``reduction``, the element-mean squared error (``"element_mean"``, the default) or the paper's
squared L2 norm ||a - b||_2^2 summed over the feature dimension and averaged over the batch
(``"squared_norm"``, D times larger). Teaching sides are detached here, so callers cannot forget it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_t(teacher_logits: torch.Tensor, student_logits: torch.Tensor, T: float) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) * T^2, averaged over the batch; teacher detached."""
    p = F.softmax(teacher_logits.detach().float() / T, dim=1)
    log_q = F.log_softmax(student_logits.float() / T, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean") * (T * T)


def eq3_within_stream_kl(
    head_logits: torch.Tensor, guided_logits: list[torch.Tensor], T: float, teachers: str = "head"
) -> torch.Tensor:
    """L_D (Eq. 3): deeper classifiers teach each shallow guided classifier of the same stream.

    ``teachers="head"``: the backbone head teaches every guided classifier (the equation);
    ``"all_deeper"``: the head and every deeper guided classifier c > b teach b (the text).
    ``guided_logits`` are ordered shallow to deep.
    """
    total = head_logits.new_zeros((), dtype=torch.float32)
    for b, g in enumerate(guided_logits):
        total = total + kl_t(head_logits, g, T)
        if teachers == "all_deeper":
            for deeper in guided_logits[b + 1 :]:
                total = total + kl_t(deeper, g, T)
    return total


L2_REDUCTIONS = ("element_mean", "squared_norm")


def l2(learner: torch.Tensor, teaching: torch.Tensor, reduction: str = "element_mean") -> torch.Tensor:
    """Squared error of ``learner`` against the detached ``teaching`` (N x D), reduced as the module says."""
    diff = (learner.float() - teaching.detach().float()).square()
    if reduction == "element_mean":
        return diff.mean()
    if reduction == "squared_norm":
        return diff.flatten(1).sum(1).mean()
    raise ValueError(f"unknown L2 reduction {reduction!r}; choose one of {L2_REDUCTIONS}")


def eq4_within_stream_l2(
    feature: torch.Tensor, guided_regressed: list[torch.Tensor], reduction: str = "element_mean"
) -> torch.Tensor:
    """L_F (Eq. 4): squared error between the detached final feature F_k and each (regressed) guided feature."""
    total = feature.new_zeros((), dtype=torch.float32)
    for g in guided_regressed:
        total = total + l2(g, feature, reduction)
    return total


def eq6_cross_stream_kl(
    t_logits: torch.Tensor,
    s_logits: torch.Tensor,
    t_guided_logits: list[torch.Tensor],
    s_guided_logits: list[torch.Tensor],
    T: float,
    pair_weight: float = 1.0,
) -> torch.Tensor:
    """L_G1 (Eq. 6): teacher head -> student head, plus ``pair_weight`` x (teacher guided b -> student guided b)."""
    total = kl_t(t_logits, s_logits, T)
    for tg, sg in zip(t_guided_logits, s_guided_logits):
        total = total + pair_weight * kl_t(tg, sg, T)
    return total


def eq7_cross_stream_l2(
    t_guided_features: list[torch.Tensor], s_guided_features: list[torch.Tensor], reduction: str = "element_mean"
) -> torch.Tensor:
    """L_G2 (Eq. 7): squared error between teacher and student guided features F_g^(b), pair by pair (both D-dim)."""
    device = s_guided_features[0].device if s_guided_features else None
    total = torch.zeros((), dtype=torch.float32, device=device)
    for tf, sf in zip(t_guided_features, s_guided_features, strict=True):
        total = total + l2(sf, tf, reduction)
    return total


def eq9_classification(logits: list[torch.Tensor], labels: torch.Tensor, margin=None) -> torch.Tensor:
    """L_L (Eq. 9): cross-entropy of every classifier of a stream (head and guided) with the label;
    ``margin(logits, labels)`` (margin heads, models/heads.py) penalises the true class first."""
    margin = margin or (lambda lg, y: lg)
    return sum(F.cross_entropy(margin(lg, labels).float(), labels) for lg in logits)


def eq11_stream_loss(parts: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Eq. 11: L^(k) = L_D + L_F + L_L + [k = s] (L_G1 + L_G2) (Eq. 8), each term weighted.

    ``parts`` holds the terms that apply to this stream (the cross-stream ones only for the student,
    or for the teacher with ``cross_stream_to_teacher``).
    """
    return sum(weights[name] * value for name, value in parts.items())
