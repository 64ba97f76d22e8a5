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
    excluded: the mean squared difference (``mse``), or ``relation_kl`` (``kl``).

    ``center`` subtracts each side's batch mean first (for features whose cosines are all >= 0, or
    descriptors in a narrow cone, only the centred structures are comparable); the teacher is detached.
    """
    student, teacher = student.float(), teacher.detach().float()
    if center:
        student, teacher = student - student.mean(0), teacher - teacher.mean(0)
    n = student.shape[0]
    if n < 2:
        return student.new_zeros(())
    if kind == "kl":
        return relation_kl(student, teacher, tau)
    if kind == "mse":
        s, t = similarity(student), similarity(teacher)
        off = ~torch.eye(n, dtype=torch.bool, device=s.device)
        return ((s - t)[off] ** 2).mean()
    raise ValueError(f"unknown relation loss {kind!r}")


def relation_kl(
    student: torch.Tensor,
    teacher: torch.Tensor,
    tau: float,
    mem_student: torch.Tensor | None = None,
    mem_teacher: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(softmax(S_t/tau) || softmax(S_s/tau)) per row of the within-batch cosines (diagonal excluded), batch mean:
    shift-invariant per row, weighted towards each row's most similar faces. ``mem_*`` (L2-normalised rows, the
    same earlier images on both sides, the student's detached) append each row's cosines to a memory: more
    impostors per row, so the softmax reaches the rare high-scoring ones that decide a low false-accept rate."""
    s, t = F.normalize(student.float(), dim=1), F.normalize(teacher.detach().float(), dim=1)
    n = s.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    s_rows, t_rows = (s @ s.t())[off].view(n, n - 1), (t @ t.t())[off].view(n, n - 1)
    if mem_student is not None:
        s_rows, t_rows = torch.cat([s_rows, s @ mem_student.t()], 1), torch.cat([t_rows, t @ mem_teacher.t()], 1)
    return F.kl_div(F.log_softmax(s_rows / tau, dim=1), F.softmax(t_rows / tau, dim=1), reduction="batchmean")
