"""YAML in, validated dataclasses out: key and type checks, choices, --set overrides; the rules between keys live in
``rules.py``."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path

from ..errors import UserError
from .files import read_config_file, yaml_value
from .rules import check_config
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
        raise UserError(
            f"config section {where or 'top level'}: expected a mapping, got {raw!r}; write its keys under it "
            f"({where or 'train'}: {{key: value}}) or set one with --set {where or 'train'}.KEY=VALUE"
        )
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
    check_config(cfg)
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
