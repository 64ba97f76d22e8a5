"""What a Trainer is built from: the device, one Stream per strategy stream (with its guided
modules), a fixed teacher's weights, and the optimizers with their lr schedules."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

import torch

from ..config import Config
from ..distill.strategy import Strategy
from ..errors import UserError
from ..models import Stream, build_model
from ..models.heads import attach_head
from ..models.stream import guided_positions
from .checkpoint import load_checkpoint
from .speed import switch


def select_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but no CUDA device is available; use train.device=auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)


def build_streams(cfg: Config, strategy: Strategy, num_classes: int) -> dict[str, Stream]:
    """One Stream per strategy stream; guided modules share D = the student's feature size by default."""
    backbones = {
        s: attach_head(
            build_model(getattr(cfg, s).arch, num_classes=num_classes, **getattr(cfg, s).kwargs),
            cfg.head.type,
            cfg.head.s,
        )
        for s in strategy.streams
    }
    dim = cfg.guided.dim or (
        backbones["student"].feature_dim
        if "student" in backbones
        else build_model(cfg.student.arch, num_classes, **cfg.student.kwargs).feature_dim
    )
    streams = {}
    for s, bb in backbones.items():
        positions = []
        if strategy.guided(s):
            if not 0 <= cfg.guided.count <= len(bb.blocks) - 1:
                raise UserError(
                    f"guided.count {cfg.guided.count} must be within 0..{len(bb.blocks) - 1} for {getattr(cfg, s).arch}"
                )
            positions = guided_positions(len(bb.blocks), cfg.guided.count, cfg.guided.blocks)
        try:  # the one ValueError a Stream raises: guided positions outside the backbone's blocks
            streams[s] = Stream(bb, num_classes, positions, dim, cfg.guided.width)
        except ValueError as e:
            raise UserError(
                f"guided.blocks: {e}; list blocks in that range, or guided.blocks=[] for guided.count"
            ) from None
        for gm in streams[s].guided:
            attach_head(gm, cfg.head.type, cfg.head.s)
    return streams


def load_teacher_weights(stream: Stream, cfg: Config, class_names: list[str], need_guided: bool) -> None:
    """Initialise the teacher from ``teacher.checkpoint`` (a teacher-only or EKD run), checking it fits."""
    path = Path(cfg.teacher.checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    state = load_checkpoint(path)
    sd = state["models"].get("teacher")
    arch = state["config"]["teacher"]["arch"]
    if sd is None:
        raise UserError(f"{path}: holds no teacher; train one with strategy teacher-only")
    if arch != cfg.teacher.arch:
        raise UserError(f"{path}: teacher is {arch}, config asks for {cfg.teacher.arch}; set teacher.arch={arch}")
    if len(state["class_names"]) != len(class_names):
        raise UserError(
            f"{path}: teacher has {len(state['class_names'])} classes, this data has "
            f"{len(class_names)}; train the teacher on the same data"
        )
    missing, _ = stream.load_state_dict(sd, strict=False)
    missing = [k for k in missing if need_guided or k.startswith("backbone.")]
    if missing:
        raise UserError(
            f"{path}: teacher checkpoint lacks {len(missing)} weights (e.g. {missing[0]}); "
            "for a fixed teacher with guided modules train it with teacher.guided=true, or set teacher.guided=false"
        )


def lr_schedule(opt: torch.optim.Optimizer, milestones: list, gamma: float, warmup_epochs: int):
    """Multi-step lr decay (stepped per epoch), after a linear warm-up from lr/n to lr over n epochs."""
    steps = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    if warmup_epochs <= 1:
        return steps
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup_epochs, total_iters=warmup_epochs - 1)
    return torch.optim.lr_scheduler.ChainedScheduler([warm, steps], optimizer=opt)


def cosine_factor(epoch: int, epochs: int, warmup_epochs: int) -> float:
    """The lr factor of epoch ``epoch`` (0-based) under ``optim.schedule=cosine``: the same linear warm-up, lr/n to
    lr over the first n epochs, then half a cosine from lr (epoch n - 1) that would reach 0 one epoch after the last
    (SGDR's annealing, Loshchilov and Hutter 2017, without restarts), so no epoch trains at lr 0. The curve follows
    ``train.epochs``: a run resumed with another count bends from where it stands."""
    n = max(warmup_epochs, 1)
    if epoch < n - 1:
        return (epoch + 1) / n
    return 0.5 * (1 + math.cos(math.pi * (epoch - n + 1) / max(epochs - n + 1, 1)))


def build_optimizers(cfg: Config, params: dict[str, list], device: torch.device) -> tuple[dict, dict]:
    """SGD and its lr schedule for each trained stream over ``params[stream]``; the teacher may have its own milestones."""
    oc = cfg.optim
    fused = switch(cfg.train.fused_sgd, device) or None
    optimizers = {
        s: torch.optim.SGD(
            p, lr=oc.lr, momentum=oc.momentum, weight_decay=oc.weight_decay, nesterov=oc.nesterov, fused=fused
        )
        for s, p in params.items()
    }
    if oc.schedule == "cosine":
        factor = functools.partial(cosine_factor, epochs=cfg.train.epochs, warmup_epochs=oc.warmup_epochs)
        return optimizers, {s: torch.optim.lr_scheduler.LambdaLR(o, factor) for s, o in optimizers.items()}
    steps = {
        s: list(oc.teacher_milestones if s == "teacher" and oc.teacher_milestones else oc.milestones)
        for s in optimizers
    }
    schedulers = {s: lr_schedule(o, steps[s], oc.gamma, oc.warmup_epochs) for s, o in optimizers.items()}
    return optimizers, schedulers


def build_ema(cfg: Config, student: Stream):
    """The student's weight average (``train.ema_decay``), or None: torch's AveragedModel with an exponential
    update of the parameters and the buffers (BN statistics), so the copy can be validated and exported as is.
    The config loader has refused the average for strategies without a student."""
    if not cfg.train.ema_decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(student, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema_decay), use_buffers=True)


def restore_ema(ema, saved: dict | None) -> None:
    """Load a checkpoint's weight average; a run that kept none (train.ema_decay set on --resume) starts it here."""
    if saved:
        ema.load_state_dict(saved)
    else:
        print("lrface train: the run kept no weight average so far; it starts at this epoch", file=sys.stderr)
