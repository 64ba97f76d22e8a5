"""Models by name (timm-style registry)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UserError

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_MODELS)


def build_model(name: str, num_classes: int, **kwargs):
    """Build a registered backbone; every model returns ``(logits, feature)`` and exposes ``blocks``."""
    if name not in _MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    if not kwargs:
        return _MODELS[name](num_classes=num_classes)
    try:
        return _MODELS[name](num_classes=num_classes, **kwargs)
    except (TypeError, ValueError, RuntimeError) as e:  # a keyword the model lacks, or a value it cannot take
        raise UserError(
            f"model {name!r} cannot be built with kwargs {kwargs} ({e}); fix the config's student/teacher kwargs"
        ) from None
