"""`lrface models [--json]`: the students packaged with lrface and their model cards (torch-free).

Each model is opened with ONNX Runtime, so a corrupt or missing packaged file is one line, exit 2.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the packaged pretrained models and their model cards",
        description="The first listed is the default wherever --model is omitted "
        "(gallery build, identify, verify, embed, evaluate).",
    )
    p.add_argument("--json", action="store_true", help="print the model cards as JSON")
    p.set_defaults(func=run)


def _accuracy(card: dict) -> str:
    acc = card.get("accuracy")
    if isinstance(acc, dict):
        return "; ".join(f"{k}: {v}" for k, v in acc.items() if not isinstance(v, (dict, list)))
    return str(acc)


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import UserError
    from ..inference.embedder import Embedder
    from ..pretrained import REQUIRED_CARD_FIELDS, list_models

    models = list_models()
    rows = []
    for i, m in enumerate(models):
        missing = [f for f in REQUIRED_CARD_FIELDS if f not in m.card]
        if missing:
            raise UserError(f"the model card of packaged model {m.name!r} lacks {', '.join(missing)}; reinstall lrface")
        emb = Embedder(m.path)  # one line, exit 2, when the file is damaged
        rows.append(
            {
                "name": m.name,
                "default": i == 0,
                "path": str(m.path),
                "size_mb": round(m.path.stat().st_size / 1e6, 2),
                "input_size": emb.spec.size,
                "embedding_dim": int(emb.dim),
                "card": m.card,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no packaged models are installed; pass --model student.onnx (from `lrface export --onnx RUN_DIR`)")
        return 0
    for r in rows:
        c = r["card"]
        print(f"{r['name']}{' (default)' if r['default'] else ''}: {c['description']}")
        print(
            f"  input {r['input_size']}x{r['input_size']}, {r['embedding_dim']}-d embedding, {r['size_mb']} MB, "
            f"{r['path']}"
        )
        print(f"  accuracy: {_accuracy(c)}")
        print(f"  training data: {c['training_data']} (terms: {c['data_terms']})")
        print(f"  trained {c['date']} with: {c['command']}")
    return 0
