"""Strategies: which streams exist, which learn, and each stream's loss. One engine runs them all.

A new baseline is one module in ``lrface/distill/strategies/`` defining a ``Strategy`` subclass
decorated with ``@register_strategy``: the package imports every module in it, and the config's
``strategy`` choices are this registry's names (nothing else to edit). A strategy owns the order of
its update step (``step``) and may refuse a config it cannot train (``check``).
"""

from __future__ import annotations

import torch

from ..config import Config
from ..errors import UserError
from ..models import StreamOutput
from ..models.heads import margin_logits
from . import losses
from .spread import spread_out_loss
from .supcon import supcon_loss

_STRATEGIES: dict[str, type[Strategy]] = {}
# terms on the student's own embeddings of its labeled rows (spread.py, supcon.py): never ramped, student only
EMBEDDING_TERMS = ("spread", "supcon")


def register_strategy(cls):
    _STRATEGIES[cls.name] = cls
    return cls


def strategy_class(name: str) -> type[Strategy]:
    """The registered strategy ``name`` (the built-in ones are registered on first use)."""
    from . import strategies  # noqa: F401  (registers the built-in strategies)

    if name not in _STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; choose one of: {', '.join(strategy_names())}")
    return _STRATEGIES[name]


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy's name: the config's ``strategy`` choices."""
    from . import strategies  # noqa: F401

    return tuple(sorted(_STRATEGIES))


def build_strategy(cfg: Config) -> Strategy:
    return strategy_class(cfg.strategy)(cfg)


class Strategy:
    """Default behaviour = full EKD (docs/design/ekd-paper-reading.md); subclasses switch parts off."""

    name = ""
    streams: tuple[str, ...] = ("teacher", "student")

    def __init__(self, cfg: Config):
        self.cfg = cfg
        lc = cfg.loss
        self.T = lc.temperature
        self.weights = {
            "ce": lc.ce,
            "within_kl": lc.within_kl,
            "within_l2": lc.within_l2,
            "cross_kl": lc.cross_kl,
            "cross_l2": lc.cross_l2,
            "hr_point": cfg.hr.point,
            "hr_relation": cfg.hr.relation,
            "hr_proto": cfg.hr.proto,
            "embed_kd": cfg.embed_kd.weight,
            "embed_kd_point": cfg.embed_kd.point,
            "spread": lc.spread,
            "supcon": lc.supcon,
        }
        self.teacher_embed_kd = cfg.embed_kd.teacher_weight  # the term's weight on the teacher (embed_kd.py)
        self.epoch_weights = dict(self.weights)
        self.teacher_weights = {**self.weights, "embed_kd": self.teacher_embed_kd}
        h = cfg.head
        self.margin = None if h.type == "softmax" else (lambda lg, y: margin_logits(lg, y, h.type, h.s, h.m))

    def start_epoch(self, epoch: int) -> None:
        """Set this 0-based ``epoch``'s term weights: ``loss.warmup_epochs`` ramps the paper's terms but ce,
        ``loss.cross_warmup_epochs`` the cross-stream ones (Eq. 6, 7) on top; ``hr.warmup_epochs`` and
        ``embed_kd.warmup_epochs`` ramp the terms beyond the paper instead (``loss.spread`` and ``loss.supcon``
        are never ramped)."""
        ramp = lambda n: min(1.0, (epoch + 1) / n) if n > 0 else 1.0
        distill, cross = ramp(self.cfg.loss.warmup_epochs), ramp(self.cfg.loss.cross_warmup_epochs)
        self.epoch_weights = {
            k: w if k == "ce" or k in EMBEDDING_TERMS else w * distill * (cross if k.startswith("cross") else 1.0)
            for k, w in self.weights.items()
        }
        hr = ramp(self.cfg.hr.warmup_epochs)
        self.epoch_weights.update({k: self.weights[k] * hr for k in ("hr_point", "hr_relation", "hr_proto")})
        kd = ramp(self.cfg.embed_kd.warmup_epochs)
        self.epoch_weights.update({k: self.weights[k] * kd for k in ("embed_kd", "embed_kd_point")})
        self.teacher_weights = {**self.epoch_weights, "embed_kd": self.teacher_embed_kd * kd}

    @classmethod
    def check(cls, cfg: Config) -> None:
        """Refuse (UserError) a config this strategy cannot train; called by the config loader."""

    # --- the update step ------------------------------------------------------------------------
    def step(self, run, x: dict[str, torch.Tensor], y: torch.Tensor, idx=None) -> dict[str, torch.Tensor]:
        """One training step on ``run`` (the Trainer: ``forward``, ``update``, ``autocast``, ``hr``, ``embed_kd``), in
        Algorithm 1's order: teacher forward + update, then student forward + update with the step-1 teacher
        outputs (detached, from before the teacher's update). With ``mutual`` the student's forward comes
        first, so the teacher can learn from it. Returns the step's detached logs."""
        logs: dict[str, torch.Tensor] = {}
        t_out = s_all = None  # s_all: every row of the student's input (embed_kd.unlabeled's faces last)
        if "teacher" in run.streams:
            with run.autocast, torch.set_grad_enabled("teacher" in run.optimizers):
                t_out = run.forward("teacher", x["teacher"])
        if self.mutual:
            with run.autocast:
                s_all = run.forward("student", x["student"])
        if "teacher" in run.optimizers:
            other = s_all.rows(len(y)).detach() if s_all is not None else None
            run.update("teacher", t_out, y, other, logs, self.extras(run, "teacher", t_out, x, idx))
        if "student" in run.streams:
            if s_all is None:
                with run.autocast:
                    s_all = run.forward("student", x["student"])
            extra = self.extras(run, "student", s_all, x, idx)
            run.update("student", s_all.rows(len(y)), y, t_out.detach() if t_out is not None else None, logs, extra)
        return logs

    # --- structure -------------------------------------------------------------------------
    def guided(self, stream: str) -> bool:
        """Whether ``stream`` carries guided modules."""
        return getattr(self.cfg, stream).guided and self.cfg.guided.count + len(self.cfg.guided.blocks) > 0

    def trains(self, stream: str) -> bool:
        """Whether ``stream`` gets an optimizer (a fixed teacher does not)."""
        return stream in self.streams and not (stream == "teacher" and self.cfg.teacher.mode == "fixed")

    @property
    def mutual(self) -> bool:
        """The teacher also receives the mirrored cross-stream loss (needs the student forward first)."""
        return self.trains("teacher") and "student" in self.streams and self.cfg.loss.cross_stream_to_teacher

    def terms(self, stream: str) -> list[str]:
        """The loss terms (Eq. 11) with a non-zero weight that ``stream`` trains with, in the sum's order."""
        other = "student" if stream == "teacher" else "teacher"
        cross = other in self.streams and (stream == "student" or self.mutual)
        names = ["ce"] + ["within_kl", "within_l2"] * self.guided(stream)
        names += ["cross_kl"] * cross + ["cross_l2"] * (cross and self.guided(stream) and self.guided(other))
        names += ["hr_point", "hr_relation", "hr_proto"] * (stream == "student") + ["embed_kd"]
        names += ["embed_kd_point", *EMBEDDING_TERMS] * (stream == "student")
        return [n for n in names if self.weight(stream, n)]

    def weight(self, stream: str, name: str) -> float:
        """The configured weight of term ``name`` in ``stream``'s sum (before any ramp)."""
        return self.teacher_embed_kd if (stream, name) == ("teacher", "embed_kd") else self.weights[name]

    def describe(self) -> str:
        """What this configuration trains, read off the config (for reports): streams, teacher, terms, ramps."""
        cfg, lc, parts = self.cfg, self.cfg.loss, []
        for s in ("teacher", "student"):
            if s not in self.streams:
                continue
            sc = getattr(cfg, s)
            what = f"{s} {sc.arch}"
            if s == "teacher" and "student" in self.streams:
                what += (" (fixed" if not self.trains(s) else " (evolutionary") + (
                    ", from a trained checkpoint)" if cfg.teacher.checkpoint else ", from scratch)"
                )
            if self.guided(s):
                what += f" + {len(cfg.guided.blocks) or cfg.guided.count} guided modules"
            if self.trains(s):
                what += ": " + " + ".join(
                    n if self.weight(s, n) == 1 else f"{self.weight(s, n):g} {n}" for n in self.terms(s)
                )
            parts.append(what)
        if self.mutual:
            parts.append("mutual: the teacher also learns from the student (loss.cross_stream_to_teacher)")
        used = {t for s in self.streams if self.trains(s) for t in self.terms(s)}
        if lc.warmup_epochs and used - {"ce"}:
            parts.append(f"distillation terms ramped in over {lc.warmup_epochs} epochs")
        if lc.cross_warmup_epochs and used & {"cross_kl", "cross_l2"}:
            parts.append(f"cross-stream terms ramped in over {lc.cross_warmup_epochs} epochs")
        if used & {"within_l2", "cross_l2"}:
            parts.append(f"Eq. 4/7 reduction {lc.l2_reduction}")
        if "embed_kd" in used:
            e = cfg.embed_kd
            parts.append(
                f"embed_kd from the frozen {e.model} ({e.kind}" + (f", tau {e.tau:g})" if e.kind == "kl" else ")")
            )
        if "embed_kd_point" in used:
            parts.append(f"embed_kd_point: the student's projected embedding against {cfg.embed_kd.model}'s (cosine)")
        if "spread" in used:
            parts.append("spread: the student's embeddings of different people spread out (loss.spread)")
        if "supcon" in used:
            parts.append(f"supcon: the student's supervised contrastive term at tau {lc.supcon_tau:g} (loss.supcon)")
        return "; ".join(parts)

    # --- losses ----------------------------------------------------------------------------
    def within_parts(self, out: StreamOutput, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_L (Eq. 9), L_D (Eq. 3), L_F (Eq. 4) of one stream."""
        parts = {"ce": losses.eq9_classification([out.logits, *out.guided_logits], labels, self.margin)}
        if out.guided_logits:
            parts["within_kl"] = losses.eq3_within_stream_kl(
                out.logits, out.guided_logits, self.T, self.cfg.loss.within_teachers
            )
            parts["within_l2"] = losses.eq4_within_stream_l2(
                out.feature, out.guided_regressed, self.cfg.loss.l2_reduction
            )
        return parts

    def cross_parts(self, learner: StreamOutput, teaching: StreamOutput) -> dict[str, torch.Tensor]:
        """L_G = L_G1 (Eq. 6) + L_G2 (Eq. 7) (Eq. 8): guided pairs only where both streams have them."""
        pairs = min(len(learner.guided_logits), len(teaching.guided_logits))
        t_gl, s_gl = teaching.guided_logits[:pairs], learner.guided_logits[:pairs]
        parts = {
            "cross_kl": losses.eq6_cross_stream_kl(
                teaching.logits, learner.logits, t_gl, s_gl, self.T, self.cfg.loss.cross_kl_pairs
            )
        }
        if pairs:
            parts["cross_l2"] = losses.eq7_cross_stream_l2(
                teaching.guided_features[:pairs], learner.guided_features[:pairs], self.cfg.loss.l2_reduction
            )
        return parts

    def extras(self, run, stream: str, out: StreamOutput, x: dict, idx) -> dict[str, torch.Tensor] | None:
        """``stream``'s terms beyond the paper: the student's HR distillation (``run.hr``; ``idx`` finds the
        descriptors of the labeled rows) and ``run.embed_kd``'s (the frozen model's embeddings of the stream's view,
        ``x["embed_kd"]`` or ``x["embed_kd_teacher"]``, over every row of ``out``, embed_kd.unlabeled's faces
        included; the student's projected embedding against them with ``embed_kd.point``); None when none is on."""
        hr = stream == "student" and run.hr is not None
        extra = run.hr.parts(out.rows(len(idx)), idx) if hr else {}
        key = run.embed_kd.key(stream) if run.embed_kd is not None else None
        if key in x and self.weight(stream, "embed_kd"):
            extra["embed_kd"] = run.embed_kd.loss(out.feature, x[key], stream)
        if key in x and stream == "student" and self.weights["embed_kd_point"]:
            extra["embed_kd_point"] = run.embed_kd.point_loss(out.feature, x[key])
        return extra or None

    def stream_loss(
        self,
        stream: str,
        out: StreamOutput,
        labels: torch.Tensor,
        other: StreamOutput | None,
        extra: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 11 for ``stream``; ``other`` is the other stream's detached output, or None; ``extra``
        adds terms beyond the paper (the student's HR distillation, hr.py; a frozen model's, embed_kd.py); the
        student's spread-out (spread.py) and supervised contrastive (supcon.py) terms are added here, on its labeled
        rows."""
        parts = self.within_parts(out, labels)
        if stream == "student" and self.weights["spread"]:
            parts["spread"] = spread_out_loss(out.feature, labels)
        if stream == "student" and self.weights["supcon"]:
            parts["supcon"] = supcon_loss(out.feature, labels, self.cfg.loss.supcon_tau)
        if other is not None and (stream == "student" or self.mutual):
            parts.update(self.cross_parts(out, other))
        parts.update(extra or {})
        return losses.eq11_stream_loss(
            parts, self.teacher_weights if stream == "teacher" else self.epoch_weights
        ), parts
