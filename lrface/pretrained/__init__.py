"""Packaged ONNX students and their model cards, found by name (torch-free).

Layout (docs/formats.md, "Packaged model"): ``lrface/pretrained/<name>.onnx`` beside ``<name>.json`` (the
model card). ``index.json`` lists the names in order; the first is the default wherever ``--model``
is omitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Damaged, UserError
from ..schema_check import MODEL_CARD, MODEL_INDEX, SchemaError, check

HERE = Path(__file__).resolve().parent
REINSTALL = "reinstall lrface (pip install --force-reinstall lrface) or pass --model"


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
        names = json.loads(index.read_text(encoding="utf-8"))
        check(names, MODEL_INDEX)
    except (OSError, ValueError) as e:  # SchemaError is a ValueError
        raise Damaged(f"the packaged model index {index} is damaged ({e}); reinstall lrface") from None
    return names["models"]


def _load(root: Path, name: str) -> PackagedModel:
    onnx, card_path = root / f"{name}.onnx", root / f"{name}.json"
    if not onnx.is_file() or onnx.stat().st_size == 0:
        raise Damaged(f"packaged model {name!r} is missing or empty ({onnx}); {REINSTALL}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        check(card, MODEL_CARD)
        if card["name"] != name:
            raise SchemaError(f"name: {card['name']!r} is not {name!r}")
    except (OSError, ValueError) as e:  # SchemaError is a ValueError
        raise Damaged(f"the model card of packaged model {name!r} is damaged ({card_path}: {e}); {REINSTALL}") from None
    return PackagedModel(name=name, path=onnx, card=card)


def packaged_card(path: str | Path, root: Path | None = None) -> PackagedModel | None:
    """The packaged model whose ONNX file is ``path`` (by location), or None for any other file."""
    root = root or HERE
    path = Path(path).resolve()
    if path.parent != root.resolve() or path.suffix != ".onnx" or path.stem not in _names(root):
        return None
    return _load(root, path.stem)


def check_packaged(path: str | Path, sha256: str, root: Path | None = None) -> None:
    """Damaged when ``path`` is a packaged model whose file's ``sha256`` is not the one its card records."""
    m = packaged_card(path, root)
    if m is not None and m.card["sha256"] != sha256:
        raise Damaged(
            f"packaged model {m.name!r} is damaged or was replaced: {m.path} has sha256 {sha256[:16]}..., its model "
            f"card records {m.card['sha256'][:16]}...; {REINSTALL}"
        )


def integrity(m: PackagedModel) -> str:
    """'ok' when the packaged file's sha256 is the one on its card, else 'DAMAGED'."""
    from ..model_integrity import file_sha256

    return "ok" if file_sha256(m.path) == m.card["sha256"] else "DAMAGED"


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
    otherwise), chosen on the validation ``thresholds.validation`` names (its training run's open-set
    validation unless it says otherwise; ``tools/model_threshold.py``); a card without one gives its
    best-accuracy threshold (FAR not stated). None for other models or cards without a threshold."""
    from ..inference.threshold import DEFAULT_FAR

    target = Path(model_path).resolve()
    for m in list_models(root):
        if m.path.resolve() != target:
            continue
        th = m.card.get("thresholds") or {}
        far = th.get("default_far", DEFAULT_FAR)
        where = th.get("validation") or "its open-set validation"
        at = (th.get("verify_far") or {}).get(f"{far:g}") if isinstance(far, (int, float)) else None
        if isinstance(at, (int, float)):
            return float(at), f"model card of {m.name}: FAR {far:g} on {where}", float(far)
        if isinstance(th.get("verify"), (int, float)):
            return float(th["verify"]), f"model card of {m.name}: best accuracy on {where}", None
    return None
