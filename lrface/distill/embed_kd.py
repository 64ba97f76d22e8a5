"""Distillation from a frozen exported embedding model (beyond the paper), e.g. a packaged ensemble into one student.

The frozen model is an ONNX file of `lrface export` (or a packaged model's name), run by ONNX Runtime on one
thread. It embeds the student's own augmented view of every batch where the batch is made (on the prefetch
thread with ``train.prefetch``, beside the step), so teacher and student see the same pixels. The student
learns the model's within-batch cosine structure, L_emb-rel (relation.py, no centring: these cosines are
the scores a gallery compares), added to the student's Eq. 11 sum with weight ``embed_kd.weight``, ramped in
over ``embed_kd.warmup_epochs``. With ``embed_kd.teacher_weight`` the trained teacher learns the same term on its
own augmented view (the model embeds that view too). With ``embed_kd.memory`` the student's rows also reach that
many earlier training images (a FIFO of the student's detached embeddings and the model's, as in cross-batch
memory): more impostors per row. The model must read the training config's preprocessing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config
from ..errors import UserError
from .relation import relation_kl, relation_loss


class EmbedDistiller:
    """The frozen model's session and the term's settings; ``targets`` on a batch, ``loss`` in the step."""

    def __init__(self, cfg: Config):
        from ..inference.embedder import Embedder
        from ..pretrained import resolve_model

        c = cfg.embed_kd
        self.kind, self.tau, self.memory = c.kind, c.tau, c.memory
        self.bank: tuple[torch.Tensor, torch.Tensor] | None = None  # (student, model) rows, newest last
        self.views = ("student",) * (c.weight > 0) + ("teacher",) * (c.teacher_weight > 0)
        self.model = Embedder(resolve_model(c.model), threads=1)
        spec, size = self.model.spec, cfg.data.image_size
        if (spec.size, tuple(spec.mean), tuple(spec.std)) != (
            size,
            tuple(cfg.preprocess.mean),
            tuple(cfg.preprocess.std),
        ):
            raise UserError(
                f"embed_kd.model {c.model}: it reads {spec.size}x{spec.size} faces with mean {list(spec.mean)}, std "
                f"{list(spec.std)}; this config trains on {size}x{size} with mean {cfg.preprocess.mean}, std "
                f"{cfg.preprocess.std}: pick a model exported from a run with the same preprocessing"
            )
        self.input = self.model.session.get_inputs()[0].name

    @classmethod
    def build(cls, cfg: Config) -> EmbedDistiller | None:
        """None when ``embed_kd.weight`` and ``embed_kd.teacher_weight`` are 0."""
        return cls(cfg) if cfg.embed_kd.weight > 0 or cfg.embed_kd.teacher_weight > 0 else None

    def batch_targets(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``x``'s entries for the step: ``embed_kd`` (of the student's view) and ``embed_kd_teacher`` (of the
        teacher's), each only where its weight is on; one model run where the two streams share a view."""
        out = {}
        for stream in self.views:
            same = stream == "teacher" and "embed_kd" in out and x["teacher"] is x["student"]
            out[self.key(stream)] = out["embed_kd"] if same else self.targets(x[stream])
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

    def state_dict(self) -> dict:
        """The memory (empty without one), so a resumed run continues with the same rows."""
        return {"bank": list(self.bank) if self.bank is not None else []}

    def load_state_dict(self, state: dict) -> None:
        bank = state.get("bank") or []
        self.bank = tuple(bank) if bank else None
