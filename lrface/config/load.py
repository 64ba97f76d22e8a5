"""YAML in, validated dataclasses out: key and type checks, choices, --set overrides, one-line errors."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path

from ..checks import thread_count
from ..errors import UserError
from .files import read_config_file, yaml_value
from .schema import Config

CHOICES = {
    "data.merge": ("source", "name"),
    "data.kind": ("auto", "packed", "folder", "cifar10", "cifar100", "tiny-imagenet"),
    "teacher.mode": ("evolutionary", "fixed"),
    "loss.within_teachers": ("head", "all_deeper"),
    "loss.l2_reduction": ("element_mean", "squared_norm"),
    "init.which": ("best", "last"),
    "hr.point_kind": ("cosine", "l2"),
    "hr.relation_kind": ("mse", "kl"),
    "embed_kd.kind": ("kl", "mse"),
    "optim.schedule": ("step", "cosine"),
    "train.device": ("auto", "cpu", "cuda"),
    "train.amp": ("none", "bf16"),
    "train.select_on": ("student", "teacher", "student_ema"),
    "train.select_metric": ("acc", "dense_tar1e-3"),
    "augment.backend": ("auto", "albumentations", "torch"),
    "train.channels_last": ("auto", "on", "off"),
    "train.compile": ("auto", "on", "off"),
    "train.fused_sgd": ("auto", "on", "off"),
}

# keys whose choices are a registry's names: a new strategy, model or head module needs no edit here
REGISTRY_KEYS = ("strategy", "student.arch", "teacher.arch", "head.type")


def registry_choices(path: str) -> tuple[str, ...]:
    """The registered names that ``path`` (one of REGISTRY_KEYS) may take."""
    if path == "strategy":
        from ..distill.strategy import strategy_names

        return strategy_names()
    if path == "head.type":
        from ..models.heads import HEAD_TYPES

        return HEAD_TYPES
    from ..models import list_models

    return tuple(list_models())


def choices(path: str) -> tuple[str, ...] | None:
    """The allowed values of config key ``path``, or None where any value of its type goes."""
    return registry_choices(path) if path in REGISTRY_KEYS else CHOICES.get(path)


# every number of the schema is >= 0 (finite; optim.lr=0 freezes the weights); these must also be > 0
POSITIVE = {
    "optim.gamma",
    "loss.temperature",
    "hr.tau",
    "embed_kd.tau",
    "loss.supcon_tau",
    "train.epochs",
    "train.batch_size",
    "train.eval_batch_size",
    "train.log_every",
    "data.image_size",
    "guided.width",
}


def _coerce(value, tp, where: str):
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    if tp in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0 or (value == 0 and where in POSITIVE):
            raise UserError(
                f"config key {where}: {value!r} must be a finite number "
                f"{'> 0' if where in POSITIVE else '>= 0'}; fix the value"
            )
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    if (origin or tp) in (list, dict) and isinstance(value, origin or tp):
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, where)
            except UserError:
                pass
    raise UserError(f"config key {where}: expected {getattr(tp, '__name__', tp)}, got {value!r}; fix the value")


def _build(cls, raw, where: str):
    if not isinstance(raw, dict):
        raise UserError(f"config section {where or 'top level'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {(where + '.' if where else '') + close[0]}?" if close else ""
            raise UserError(f"unknown config key {path}{hint}")
        tp = hints[key]
        if isinstance(value, bool) and "on" in CHOICES.get(path, ()):
            value = "on" if value else "off"  # YAML 1.1 reads on/off as booleans
        kwargs[key] = _build(tp, value, path) if dataclasses.is_dataclass(tp) else _coerce(value, tp, path)
        allowed = choices(path)
        if allowed is not None and kwargs[key] not in allowed:
            raise UserError(f"config key {path}: {kwargs[key]!r} is not one of {', '.join(allowed)}")
    return cls(**kwargs)


def _check_not_a_section(dotted: str) -> None:
    """Refuse ``--set SECTION=VALUE``: it would replace the whole section, silently resetting the keys it
    leaves out (``--set train={}`` is every train default) to their defaults."""
    cls = Config
    for key in dotted.split("."):
        field = {f.name: f for f in dataclasses.fields(cls)}.get(key)
        if field is None:
            return  # an unknown key: _build names it
        cls = typing.get_type_hints(cls)[key]
        if not dataclasses.is_dataclass(cls):
            return
    example = dataclasses.fields(cls)[0].name
    raise UserError(
        f"--set {dotted}=...: {dotted} is a whole config section, and replacing it would reset its other keys; "
        f"set one key at a time, e.g. --set {dotted}.{example}=VALUE"
    )


def _set_dotted(raw: dict, dotted: str, value) -> None:
    _check_not_a_section(dotted)
    keys = dotted.split(".")
    node = raw
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise UserError(
                f"--set {dotted}: the config holds {k}: {node!r}, not a section; "
                f"make {k} a mapping in the config file (e.g. {k}: {{...}})"
            )
    node[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] = (), base: dict | None = None) -> Config:
    """Read YAML (with its ``base:`` configs, or start from ``base``), apply ``key=value`` overrides, validate."""
    raw: dict = dict(base or {})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config {path} not found; pass a file such as configs/face/orl-smoke.yaml")
        raw = read_config_file(path)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected key=value, e.g. --set train.epochs=5")
        key, _, text = item.partition("=")
        _set_dotted(raw, key.strip(), yaml_value(text, f"--set {item!r}"))
    cfg = _build(Config, raw, "")
    _check(cfg)
    return cfg


# keys removed from the schema (validated but never read); configs stored by older runs may still hold them
REMOVED = {"train": ("workers",)}


def config_from_dict(raw: dict) -> Config:
    """A stored config (checkpoint, config.yaml, done.json): keys removed since are dropped, the rest validated."""
    raw = {
        sec: ({k: v for k, v in val.items() if k not in REMOVED.get(sec, ())} if isinstance(val, dict) else val)
        for sec, val in raw.items()
    }
    return _build(Config, raw, "")


def _check(cfg: Config) -> None:
    if not 8 <= cfg.data.image_size <= 256:
        raise UserError(f"data.image_size {cfg.data.image_size} is outside 8..256")
    if not 0 < cfg.data.fraction <= 1:
        raise UserError(f"data.fraction {cfg.data.fraction} must be in (0, 1]")
    if not 0 <= cfg.data.test_fraction < 1 or not 0 <= cfg.data.val_fraction < 1:
        raise UserError("data.test_fraction and data.val_fraction must be in [0, 1)")
    if cfg.head.type != "softmax" and (cfg.head.s <= 0 or not 0 <= cfg.head.m < 1.5):
        raise UserError(f"head.s must be positive and head.m in [0, 1.5) (got s={cfg.head.s}, m={cfg.head.m})")
    if cfg.data.val_identities < 0 or cfg.data.val_pairs < 1:
        raise UserError("data.val_identities must be >= 0 (a fraction < 1 or a count) and data.val_pairs >= 1")
    n_paths = len(cfg.data.path) if isinstance(cfg.data.path, list) else 1
    if cfg.data.val_source is not None and (not isinstance(cfg.data.path, list) or cfg.data.val_source >= n_paths):
        raise UserError(
            f"data.val_source {cfg.data.val_source} is not an index into data.path ({n_paths} entries); "
            "list the sources in data.path or set data.val_source=null"
        )
    if cfg.loss.temperature <= 0:
        raise UserError("loss.temperature must be positive")
    if cfg.train.epochs < 1 or cfg.train.batch_size < 1:
        raise UserError("train.epochs and train.batch_size must be at least 1")
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
        raise UserError("preprocess.mean and preprocess.std need three values, std positive")


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
    for key in ("lighting", "grey", "lighting_strength", "shift_p"):
        if not 0 <= getattr(a, key) <= 1:
            raise UserError(f"augment.{key} {getattr(a, key):g} must be in [0, 1]")
