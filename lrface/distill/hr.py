"""Cross-resolution distillation from a high-resolution face teacher (beyond the paper).

The packed set carries, per image, a fixed descriptor that a strong face recogniser computed from the
full-resolution face (``prepare --hr-teacher``). The 16x16 student learns from it through two terms,
both per image and label-free (so identities with a single image contribute):

- L_HR-point: the student's feature through a training-only projection P (d_s -> d_hr) matched to
  the descriptor: ``1 - cos(P f, t)`` (``cosine``) or ``||P f/|P f| - t||^2`` (``l2``), batch mean.
- L_HR-rel: the within-batch similarity structure: the student's cosine-similarity matrix against the
  teacher's (both batch-centred by default), off the diagonal, as the mean squared difference (``mse``) or as
  KL(softmax(S_t/tau) || softmax(S_s/tau)) per row, batch mean (``kl``; shift-invariant per row).

- L_HR-proto: the teacher's similarities to identity prototypes (the mean training descriptor of
  each class) as soft labels, softmax(cos(t, p_c) / tau_p), against the student's class posterior:
  KL(soft || softmax(student logits)), batch mean: which identities the teacher finds alike.

All are added to the student's Eq. 11 sum only (see Strategy.stream_loss), weighted by
``hr.point``, ``hr.relation`` and ``hr.proto`` and ramped in over ``hr.warmup_epochs``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import HrConfig
from ..errors import UserError
from .relation import relation_loss


def hr_point_loss(projected: torch.Tensor, teacher: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """L_HR-point between the projected student features (N x d_hr) and the teacher descriptors (N x d_hr)."""
    p = F.normalize(projected.float(), dim=1)
    t = F.normalize(teacher.detach().float(), dim=1)
    if kind == "cosine":
        return (1.0 - (p * t).sum(1)).mean()
    if kind == "l2":
        return ((p - t) ** 2).sum(1).mean()
    raise ValueError(f"unknown HR point loss {kind!r}")


def hr_proto_loss(
    student_logits: torch.Tensor,
    teacher: torch.Tensor,
    prototypes: torch.Tensor,
    tau: float = 0.1,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_HR-proto: KL(softmax(cos(t, p_c)/tau) || softmax(student logits)), batch mean; classes without a
    prototype (``valid`` False) get no teacher mass."""
    sims = F.normalize(teacher.detach().float(), dim=1) @ F.normalize(prototypes.float(), dim=1).t() / tau
    if valid is not None:
        sims = sims.masked_fill(~valid, float("-inf"))
    soft = F.softmax(sims, dim=1)
    return F.kl_div(F.log_softmax(student_logits.float(), dim=1), soft, reduction="batchmean")


class HrDistiller(nn.Module):
    """The training-only projection P and the training split's descriptors (never exported).

    Descriptors are found by image content (``DataBundle.hr``) once, before training; training
    images without one (a source prepared without ``--hr-teacher``) are left out of both terms.
    """

    def __init__(
        self,
        cfg: HrConfig,
        targets: np.ndarray,
        found: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        feature_dim: int,
    ):
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(feature_dim, targets.shape[1])
        self.register_buffer("targets", torch.from_numpy(targets), persistent=False)
        self.register_buffer("found", torch.from_numpy(found), persistent=False)
        protos = np.zeros((num_classes, targets.shape[1]), np.float32)
        np.add.at(protos, labels[found], targets[found])
        self.register_buffer("protos", torch.from_numpy(protos), persistent=False)
        self.register_buffer("has_proto", torch.from_numpy(np.abs(protos).sum(1) > 0), persistent=False)

    @classmethod
    def build(
        cls, cfg: HrConfig, table, train: tuple[np.ndarray, np.ndarray], num_classes: int, feature_dim: int
    ) -> HrDistiller | None:
        """None when every weight is 0; a one-line error when the data carry no descriptors."""
        if cfg.point <= 0 and cfg.relation <= 0 and cfg.proto <= 0:
            return None
        train_images, labels = train
        targets, found = table.lookup(train_images)
        if not found.any():
            raise UserError(
                "hr.point / hr.relation need HR-teacher descriptors, and the training data have none; "
                "prepare the packed set with `lrface prepare ... --hr-teacher dlib` (pip install "
                '"lrface[hr]"), or set hr.point=0 hr.relation=0'
            )
        if cfg.center:
            targets[found] -= targets[found].mean(axis=0)
            targets[found] /= np.maximum(np.linalg.norm(targets[found], axis=1, keepdims=True), 1e-12)
        return cls(cfg, targets, found, np.asarray(labels), num_classes, feature_dim)

    def parts(self, out, idx) -> dict[str, torch.Tensor]:
        """The HR terms of the batch (student ``out``, a StreamOutput) whose training-split indices are ``idx``."""
        idx = torch.as_tensor(idx, device=self.targets.device)
        keep = self.found[idx]
        feature = out.feature
        f, t = feature[keep], self.targets[idx][keep]
        parts = {}
        if self.cfg.point > 0:
            parts["hr_point"] = hr_point_loss(self.proj(f), t, self.cfg.point_kind) if len(t) else feature.sum() * 0
        if self.cfg.relation > 0:
            parts["hr_relation"] = relation_loss(f, t, self.cfg.relation_kind, self.cfg.tau, self.cfg.relation_center)
        if self.cfg.proto > 0:
            parts["hr_proto"] = (
                hr_proto_loss(out.logits[keep], t, self.protos, self.cfg.proto_tau, self.has_proto)
                if len(t)
                else feature.sum() * 0
            )
        return parts
