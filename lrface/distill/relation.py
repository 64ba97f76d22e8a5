"""Relational distillation (beyond the paper): a student's within-batch similarity structure against a teacher's.

Shared by the HR-teacher term (hr.py, L_HR-rel) and the frozen embedding model's (embed_kd.py, L_emb-rel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def similarity(x: torch.Tensor) -> torch.Tensor:
    """Cosine-similarity matrix of the rows of ``x``."""
    x = F.normalize(x.float(), dim=1)
    return x @ x.t()


def relation_loss(
    student: torch.Tensor, teacher: torch.Tensor, kind: str = "mse", tau: float = 0.1, center: bool = True
) -> torch.Tensor:
    """The student's within-batch cosine similarities (N x d_s rows) against the teacher's (N x d_t), diagonal
    excluded: the mean squared difference (``mse``), or KL(softmax(S_t/tau) || softmax(S_s/tau)) per row,
    batch mean (``kl``; shift-invariant per row, weighted towards each row's most similar faces).

    ``center`` subtracts each side's batch mean first (for features whose cosines are all >= 0, or
    descriptors in a narrow cone, only the centred structures are comparable); the teacher is detached.
    """
    student, teacher = student.float(), teacher.detach().float()
    if center:
        student, teacher = student - student.mean(0), teacher - teacher.mean(0)
    s, t = similarity(student), similarity(teacher)
    n = s.shape[0]
    if n < 2:
        return s.new_zeros(())
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    if kind == "mse":
        return ((s - t)[off] ** 2).mean()
    if kind == "kl":
        s_rows, t_rows = s[off].view(n, n - 1) / tau, t[off].view(n, n - 1) / tau
        return F.kl_div(F.log_softmax(s_rows, dim=1), F.softmax(t_rows, dim=1), reduction="batchmean")
    raise ValueError(f"unknown relation loss {kind!r}")


def memory_relation_kl(
    student: torch.Tensor, teacher: torch.Tensor, mem_student: torch.Tensor, mem_teacher: torch.Tensor, tau: float
) -> torch.Tensor:
    """``relation_loss``'s kl form (no centring) with each row's cosines to a memory of earlier images appended
    (``mem_*``: L2-normalised rows, the same images on both sides; the student's are detached): more impostors per
    row, so the row's softmax reaches the rare high-scoring ones that decide a low false-accept rate."""
    s, t = F.normalize(student.float(), dim=1), F.normalize(teacher.detach().float(), dim=1)
    n = s.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    s_rows = torch.cat([(s @ s.t())[off].view(n, n - 1), s @ mem_student.t()], 1) / tau
    t_rows = torch.cat([(t @ t.t())[off].view(n, n - 1), t @ mem_teacher.t()], 1) / tau
    return F.kl_div(F.log_softmax(s_rows, dim=1), F.softmax(t_rows, dim=1), reduction="batchmean")
