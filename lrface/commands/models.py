"""`lrface models [--json]`: the students packaged with lrface, their model cards and integrity (torch-free).

Each file's sha256 is checked against its card; a damaged or replaced file is marked DAMAGED in the table
and named in one line on stderr, exit 2. Intact models are opened with ONNX Runtime for their input size and
embedding size.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the packaged pretrained models, their model cards and integrity",
        description="The first listed (marked *) is the default wherever --model is omitted "
        "(gallery build, identify, verify, embed, evaluate). Exit 2 when a packaged file does not match "
        "the sha256 on its card.",
    )
    p.add_argument("--json", action="store_true", help="print the model cards and checks as JSON")
    p.set_defaults(func=run)


def _lfw(card: dict) -> str:
    acc = card["accuracy"]
    return next((str(v) for k, v in acc.items() if k.startswith("LFW-16")), "-")


def _terms(card: dict) -> str:
    return card.get("terms") or card["data_terms"].split(";")[0][:60]


def _row(i: int, m) -> dict:
    from ..inference.embedder import Embedder
    from ..pretrained import integrity

    ok = integrity(m)
    emb = Embedder(m.path) if ok == "ok" else None  # a damaged file is not loaded
    return {
        "name": m.name,
        "default": i == 0,
        "path": str(m.path),
        "size_mb": round(m.path.stat().st_size / 1e6, 2),
        "input_size": emb.spec.size if emb else None,
        "embedding_dim": int(emb.dim) if emb else None,
        "sha256": m.card["sha256"],
        "integrity": ok,
        "card": m.card,
    }


def _table(rows: list[dict]) -> None:
    head = ("name", "", "size MB", "input", "dim", "LFW-16", "integrity", "terms")
    body = [
        (
            r["name"],
            "*" if r["default"] else "",
            f"{r['size_mb']:.2f}",
            f"{r['input_size']}x{r['input_size']}" if r["input_size"] else "-",
            str(r["embedding_dim"] or "-"),
            _lfw(r["card"]),
            r["integrity"],
            _terms(r["card"]),
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    for line in (head, *body):
        print("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip())
    print("* default. Cards: lrface models --json; LFW-16 accuracy on LFW View 2 pairs at 16x16.")


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import Damaged
    from ..pretrained import REINSTALL, list_models

    rows = [_row(i, m) for i, m in enumerate(list_models())]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        print("no packaged models are installed; pass --model student.onnx (from `lrface export --onnx RUN_DIR`)")
    else:
        _table(rows)
    damaged = [r["name"] for r in rows if r["integrity"] != "ok"]
    if damaged:
        raise Damaged(
            f"packaged model{'s' * (len(damaged) > 1)} {', '.join(damaged)}: the file does not match the sha256 on "
            f"its model card (damaged or replaced); {REINSTALL}"
        )
    return 0
