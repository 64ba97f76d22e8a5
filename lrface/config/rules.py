"""The rules between a config's keys: ranges, combinations a strategy cannot run, one-line errors with the fix."""

from __future__ import annotations

from ..checks import thread_count
from ..errors import UserError
from .schema import Config


def check_config(cfg: Config) -> None:
    """Ranges and combinations of keys a loaded config must satisfy; the first broken one raises a one-line error."""
    if not 8 <= cfg.data.image_size <= 256:
        raise UserError(f"data.image_size {cfg.data.image_size} is outside 8..256")
    if not 0 < cfg.data.fraction <= 1:
        raise UserError(f"data.fraction {cfg.data.fraction} must be in (0, 1]")
    for key in ("test_fraction", "val_fraction"):
        if not 0 <= getattr(cfg.data, key) < 1:
            raise UserError(f"data.{key} {getattr(cfg.data, key)} must be in [0, 1)")
    if cfg.head.type != "softmax" and (cfg.head.s <= 0 or not 0 <= cfg.head.m < 1.5):
        raise UserError(f"head.s must be positive and head.m in [0, 1.5) (got s={cfg.head.s}, m={cfg.head.m})")
    if cfg.data.val_identities < 0:
        raise UserError(f"data.val_identities {cfg.data.val_identities} must be >= 0 (a fraction < 1 or a count)")
    if cfg.data.val_pairs < 1:
        raise UserError(f"data.val_pairs {cfg.data.val_pairs} must be >= 1")
    n_paths = len(cfg.data.path) if isinstance(cfg.data.path, list) else 1
    if cfg.data.val_source is not None and (not isinstance(cfg.data.path, list) or cfg.data.val_source >= n_paths):
        raise UserError(
            f"data.val_source {cfg.data.val_source} is not an index into data.path ({n_paths} entries); "
            "list the sources in data.path or set data.val_source=null"
        )
    if cfg.loss.temperature <= 0:
        raise UserError("loss.temperature must be positive")
    for key in ("epochs", "batch_size"):
        if getattr(cfg.train, key) < 1:
            raise UserError(f"train.{key} {getattr(cfg.train, key)} must be at least 1")
    thread_count(cfg.train.threads, "train.threads", zero="leave torch's default")
    if cfg.optim.schedule == "cosine" and cfg.optim.teacher_milestones:
        raise UserError(
            "optim.teacher_milestones are lr steps; optim.schedule=cosine has none: set optim.teacher_milestones=[] "
            "or optim.schedule=step"
        )
    if cfg.train.per_identity and not 2 <= cfg.train.per_identity <= cfg.train.batch_size // 2:
        raise UserError(
            f"train.per_identity {cfg.train.per_identity} must be 0 (a plain shuffle) or in 2..{cfg.train.batch_size // 2} "
            "(half of train.batch_size, so a batch holds two identities at least), e.g. 4"
        )
    if not cfg.train.ema_decay < 1:
        raise UserError(f"train.ema_decay {cfg.train.ema_decay:g} must be in [0, 1) (e.g. 0.998; 0 = off)")
    if cfg.train.select_on == "student_ema" and not cfg.train.ema_decay:
        raise UserError("train.select_on=student_ema needs the weight average: set train.ema_decay (e.g. 0.998)")
    for key in ("milestones", "teacher_milestones"):
        steps = getattr(cfg.optim, key)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in steps) or steps != sorted(set(steps)):
            raise UserError(
                f"optim.{key} {steps!r}: give the epochs of the lr steps as whole numbers >= 1, ascending (e.g. [36, 50])"
            )
    from ..distill.strategy import strategy_class

    strategy = strategy_class(cfg.strategy)
    strategy.check(cfg)
    if cfg.train.ema_decay and "student" not in strategy.streams:
        raise UserError(f"train.ema_decay averages a trained student; strategy {cfg.strategy} trains none: set it to 0")
    for key in ("spread", "supcon"):
        if getattr(cfg.loss, key) and "student" not in strategy.streams:
            raise UserError(
                f"loss.{key} shapes a student's embeddings; strategy {cfg.strategy} trains none: set it to 0"
            )
    if cfg.loss.supcon and not cfg.train.per_identity:
        raise UserError(
            "loss.supcon needs batches with several faces per person: set train.per_identity (e.g. 4), or loss.supcon=0"
        )
    e = cfg.embed_kd
    if (e.weight or e.teacher_weight or e.point) and not e.model:
        raise UserError(
            "embed_kd.weight, embed_kd.teacher_weight or embed_kd.point > 0 needs embed_kd.model: a packaged model's "
            "name or an exported .onnx"
        )
    if (e.weight or e.point) and "student" not in strategy.streams:
        raise UserError(
            f"embed_kd distils into a student; strategy {cfg.strategy} trains none: set embed_kd.weight=0 "
            "embed_kd.point=0"
        )
    if e.memory and (not e.weight or e.kind != "kl"):
        raise UserError(
            f"embed_kd.memory {e.memory} extends the student's kl term: set embed_kd.weight > 0 and embed_kd.kind=kl, "
            "or embed_kd.memory=0"
        )
    if e.unlabeled and not (e.weight or e.point):
        raise UserError(
            "embed_kd.unlabeled feeds the student's embed_kd terms only: set embed_kd.weight or embed_kd.point > 0, "
            "or embed_kd.unlabeled=[]"
        )
    if e.unlabeled and e.unlabeled_batch < 1:
        raise UserError(f"embed_kd.unlabeled_batch {e.unlabeled_batch} must be >= 1 (faces appended a step), e.g. 64")
    if e.unlabeled and cfg.augment.degrade:
        raise UserError(
            "embed_kd.unlabeled is read at data.image_size; augment.degrade trains on the sets' own size: "
            "set one of them off"
        )
    if e.teacher_weight and not strategy(cfg).trains("teacher"):
        raise UserError(
            f"embed_kd.teacher_weight distils into a trained teacher; strategy {cfg.strategy} with teacher.mode "
            f"{cfg.teacher.mode} trains none: set embed_kd.teacher_weight=0"
        )
    _check_augment(cfg)
    if len(cfg.preprocess.mean) != 3 or len(cfg.preprocess.std) != 3 or min(cfg.preprocess.std) <= 0:
        raise UserError(
            f"preprocess.mean {list(cfg.preprocess.mean)} / std {list(cfg.preprocess.std)}: give three values each, "
            "std > 0 (e.g. mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5])"
        )


DEGRADE_FILTERS = ("area", "bilinear", "bicubic", "nearest", "lanczos")  # lrface/data/degrade.py FILTERS


def _check_augment(cfg: Config) -> None:
    """The augment section: degradation settings, backend combinations, shares and strengths in [0, 1]."""
    a = cfg.augment
    bad = [f for f in a.degrade_filters if f not in DEGRADE_FILTERS]
    if bad or not a.degrade_filters:
        raise UserError(
            f"augment.degrade_filters {a.degrade_filters!r}: name one or more of {', '.join(DEGRADE_FILTERS)}"
        )
    if a.degrade_noise > 255:
        raise UserError(f"augment.degrade_noise {a.degrade_noise:g} is a std in 0..255 units; give at most 255")
    if a.degrade_jpeg > 95:
        raise UserError(f"augment.degrade_jpeg {a.degrade_jpeg} is the lowest JPEG quality (1..95), or 0 for off")
    if a.degrade and a.backend == "torch":
        raise UserError(
            "augment.degrade runs on the albumentations backend; set augment.backend=auto or albumentations"
        )
    if a.degrade and a.pad_crop:
        raise UserError("augment.degrade is for packed face sets, augment.pad_crop for CIFAR-style ones; set one to 0")
    for key in ("lighting", "grey", "lighting_strength", "shift_p", "brightness_contrast"):
        if not 0 <= getattr(a, key) <= 1:
            raise UserError(f"augment.{key} {getattr(a, key):g} must be in [0, 1]")
    for key, top, unit in (("shift", 0.5, "of the side"), ("scale", 0.9, "either way"), ("rotate", 180, "degrees")):
        if not 0 <= getattr(a, key) <= top:
            raise UserError(f"augment.{key} {getattr(a, key):g} must be in [0, {top:g}] ({unit})")
