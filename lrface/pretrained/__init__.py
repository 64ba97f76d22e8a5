"""Packaged ONNX students and their model cards, found by name (torch-free).

Layout (the ARCHITECTURE contract): ``lrface/pretrained/<name>.onnx`` beside ``<name>.json`` (the
model card). ``index.json`` lists the names in order; the first is the default wherever ``--model``
is omitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

HERE = Path(__file__).resolve().parent
REQUIRED_CARD_FIELDS = (
    "name",
    "description",
    "training_data",
    "data_terms",
    "preprocessing",
    "accuracy",
    "command",
    "date",
)


@dataclass(frozen=True)
class PackagedModel:
    """One packaged student: its ONNX file and its model card."""

    name: str
    path: Path
    card: dict = field(default_factory=dict)


def _names(root: Path) -> list[str]:
    index = root / "index.json"
    if not index.is_file():
        return []
    try:
        names = json.loads(index.read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"the packaged model index {index} is unreadable ({e}); reinstall lrface") from None
    return [str(n) for n in names]


def _load(root: Path, name: str) -> PackagedModel:
    onnx, card_path = root / f"{name}.onnx", root / f"{name}.json"
    reinstall = "reinstall lrface (pip install --force-reinstall lrface) or pass --model"
    if not onnx.is_file() or onnx.stat().st_size == 0:
        raise UserError(f"packaged model {name!r} is missing or empty ({onnx}); {reinstall}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if not isinstance(card, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise UserError(
            f"the model card of packaged model {name!r} is unreadable ({card_path}: {e}); {reinstall}"
        ) from None
    return PackagedModel(name=name, path=onnx, card=card)


def list_models(root: Path = HERE) -> list[PackagedModel]:
    """Every packaged model, the default first."""
    return [_load(root, n) for n in _names(root)]


def resolve_model(model: str | None, root: Path = HERE) -> Path:
    """``model`` as given (a path or a packaged name), or the default packaged model when None."""
    names = _names(root)
    if model is None:
        if not names:
            raise UserError(
                "no packaged model is installed and no --model was given; pass --model student.onnx "
                "(from `lrface export --onnx RUN_DIR`)"
            )
        return _load(root, names[0]).path
    if model in names:
        return _load(root, model).path
    return Path(model)


def card_threshold(model_path: str | Path, root: Path = HERE) -> tuple[float, str, float | None] | None:
    """(threshold, where it came from, its false-accept rate) from the model card of the packaged model at
    ``model_path``: the card's threshold at ``thresholds.default_far`` (FAR 1e-3 unless the card says
    otherwise), chosen on its training run's open-set validation (``tools/model_threshold.py``); a card
    without one gives its best-accuracy threshold (FAR not stated). None for other models or cards without
    a threshold."""
    from ..inference.threshold import DEFAULT_FAR

    target = Path(model_path).resolve()
    for m in list_models(root):
        if m.path.resolve() != target:
            continue
        th = m.card.get("thresholds") or {}
        far = th.get("default_far", DEFAULT_FAR)
        at = (th.get("verify_far") or {}).get(f"{far:g}") if isinstance(far, (int, float)) else None
        if isinstance(at, (int, float)):
            return float(at), f"model card of {m.name}: FAR {far:g} on its open-set validation", float(far)
        if isinstance(th.get("verify"), (int, float)):
            return float(th["verify"]), f"model card of {m.name}: best accuracy on its open-set validation", None
    return None
