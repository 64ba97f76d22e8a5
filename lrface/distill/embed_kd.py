"""Distillation from a frozen exported embedding model (beyond the paper), e.g. a packaged ensemble into one student.

The frozen model is an ONNX file of `lrface export` (or a packaged model's name), run by ONNX Runtime on one
thread. It embeds the student's own augmented view of every batch where the batch is made (on the prefetch
thread with ``train.prefetch``, beside the step), so teacher and student see the same pixels. The student
learns the model's within-batch cosine structure, L_emb-rel (relation.py, no centring: these cosines are
the scores a gallery compares), added to the student's Eq. 11 sum with weight ``embed_kd.weight``, ramped in
over ``embed_kd.warmup_epochs``. With ``embed_kd.teacher_weight`` the trained teacher learns the same term on its
own augmented view (the model embeds that view too). With ``embed_kd.memory`` the student's rows also reach that
many earlier training images (a FIFO of the student's detached embeddings and the model's, as in cross-batch
memory): more impostors per row. With ``embed_kd.unlabeled`` faces no label is read of (data/unlabeled.py) join the
student's batch for these terms only. With ``embed_kd.point`` the student also learns each embedding itself,
L_emb-point = 1 - cos(P f, t) (hr.py's point loss), through a training-only linear projection P from its width to
the model's (a three-member ensemble's embedding is its members' three side by side). The model must read the
training config's preprocessing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..errors import UserError
from .hr import hr_point_loss
from .relation import relation_kl, relation_loss


def wanted(cfg: Config) -> bool:
    """Whether any of the terms is on (``embed_kd.weight``, ``teacher_weight`` or ``point`` > 0)."""
    c = cfg.embed_kd
    return c.weight > 0 or c.teacher_weight > 0 or c.point > 0


def frozen_model(cfg: Config):
    """The frozen model's Embedder (one thread); a one-line UserError where it does not read ``cfg``'s
    preprocessing. Called before a run directory is written, and by EmbedDistiller."""
    from ..inference.embedder import Embedder
    from ..pretrained import resolve_model

    model = Embedder(resolve_model(cfg.embed_kd.model), threads=1)
    spec, size = model.spec, cfg.data.image_size
    if (spec.size, tuple(spec.mean), tuple(spec.std)) != (size, tuple(cfg.preprocess.mean), tuple(cfg.preprocess.std)):
        raise UserError(
            f"embed_kd.model {cfg.embed_kd.model}: it reads {spec.size}x{spec.size} faces with mean {list(spec.mean)}, "
            f"std {list(spec.std)}; this config trains on {size}x{size} with mean {cfg.preprocess.mean}, std "
            f"{cfg.preprocess.std}: pick a model exported from a run with the same preprocessing"
        )
    return model


class EmbedDistiller:
    """The frozen model's session, the terms' settings and P; ``targets`` on a batch, ``loss`` and ``point_loss`` in
    the step. ``feature_dim`` (the student's embedding width) is needed with ``embed_kd.point``."""

    def __init__(self, cfg: Config, feature_dim: int | None = None):
        c = cfg.embed_kd
        self.kind, self.tau, self.memory = c.kind, c.tau, c.memory
        self.bank: tuple[torch.Tensor, torch.Tensor] | None = None  # (student, model) rows, newest last
        self.views = ("student",) * (c.weight > 0 or c.point > 0) + ("teacher",) * (c.teacher_weight > 0)
        self.model = frozen_model(cfg)
        self.input = self.model.session.get_inputs()[0].name
        self.proj = None
        if c.point > 0:
            size = cfg.data.image_size
            self.proj = nn.Linear(feature_dim, self.targets(torch.zeros(1, 3, size, size)).shape[1])

    @classmethod
    def build(cls, cfg: Config, feature_dim: int | None = None) -> EmbedDistiller | None:
        """None when ``embed_kd.weight``, ``embed_kd.teacher_weight`` and ``embed_kd.point`` are 0."""
        return cls(cfg, feature_dim) if wanted(cfg) else None

    def parameters(self) -> list[nn.Parameter]:
        """P's weights (trained with the student; never exported); none without ``embed_kd.point``."""
        return list(self.proj.parameters()) if self.proj is not None else []

    def to(self, device) -> EmbedDistiller:
        if self.proj is not None:
            self.proj.to(device)
        return self

    def batch_targets(self, x: dict[str, torch.Tensor], shared: bool) -> dict[str, torch.Tensor]:
        """``x``'s entries for the step: ``embed_kd`` (of the student's input, embed_kd.unlabeled's faces last where
        there are any) and ``embed_kd_teacher`` (of the teacher's view), each only where its weight is on; one model
        run where the teacher's view is the student's first rows (``shared``)."""
        out = {}
        for stream in self.views:
            if stream == "teacher" and "embed_kd" in out and shared:
                rows, n = out["embed_kd"], len(x["teacher"])
                out[self.key(stream)] = rows if len(rows) == n else rows[:n]
            else:
                out[self.key(stream)] = self.targets(x[stream])
        return out

    @staticmethod
    def key(stream: str) -> str:
        """The batch entry that holds the model's embeddings of ``stream``'s view."""
        return "embed_kd_teacher" if stream == "teacher" else "embed_kd"

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen model's L2-normalised embeddings (N x d) of a preprocessed batch, on ``x``'s device."""
        batch = np.ascontiguousarray(x.detach().float().cpu().numpy())
        (emb,) = self.model.session.run(["embedding"], {self.input: batch})
        return torch.from_numpy(emb).to(x.device)

    def loss(self, feature: torch.Tensor, targets: torch.Tensor, stream: str = "student") -> torch.Tensor:
        """L_emb-rel of ``stream``'s embeddings ``feature`` against the model's ``targets`` of the same batch; for the
        student with ``memory``, over the batch and the memory, which then takes this batch in."""
        if not self.memory or stream != "student":
            return relation_loss(feature, targets, self.kind, self.tau, center=False)
        if self.bank is None:
            self.bank = (
                feature.new_zeros((0, feature.shape[1]), dtype=torch.float32),
                targets.new_zeros((0, targets.shape[1])),
            )
        self.bank = tuple(b.to(feature.device) for b in self.bank)  # a resumed bank is loaded on the CPU
        loss = relation_kl(feature, targets, self.tau, *self.bank)
        new = (F.normalize(feature.detach().float(), dim=1), F.normalize(targets.detach().float(), dim=1))
        self.bank = tuple(torch.cat([old, b])[-self.memory :] for old, b in zip(self.bank, new, strict=True))
        return loss

    def point_loss(self, feature: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """L_emb-point of the student's embeddings ``feature`` (N x d_s) against the model's ``targets`` (N x d)."""
        return hr_point_loss(self.proj(feature.float()), targets, "cosine")

    def state_dict(self) -> dict:
        """The memory (empty without one) and P, so a resumed run continues with the same rows and projection."""
        state = {"bank": list(self.bank) if self.bank is not None else []}
        if self.proj is not None:
            state["proj"] = self.proj.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        bank = state.get("bank") or []
        self.bank = tuple(bank) if bank else None
        if self.proj is not None:
            self.proj.load_state_dict(state["proj"])
