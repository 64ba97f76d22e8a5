"""Exported students side by side: open-set validation first, then LFW-16 (inference only, CPU).

Each RUN is a training run directory with ``export/student.onnx``; runs are grouped by their seed, and a
seed's validation (the identities its config held out, the trainer's 3,000 + 3,000 seeded pairs) scores
every run of that seed and every ``--models`` entry (packaged model names or ONNX files) on the same
pairs, so differences within a seed are paired. Per row: the protocol's 10-fold accuracy and TAR at
FAR 1e-2 / 1e-3 on validation; with ``--lfw PAIRS IMAGES``, the same on LFW-16 (the test set: read it
after choosing on validation). ``--json`` keeps every number.

    python tools/compare_runs.py RUN [RUN ...] [--models sr18-celeba-ekd60] [--lfw PAIRS IMAGES] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FARS = (1e-2, 1e-3)


def row_numbers(metrics: dict) -> list[float]:
    tars = {t["far"]: t["tar"] for t in metrics["tar_at_far"]}
    return [100 * metrics["accuracy"], *(100 * tars[f] for f in FARS)]


def validation(run: Path):
    """(images, pairs a, pairs b, same, fold) of a run's open-set validation, as its trainer drew them."""
    import yaml

    from lrface.config import config_from_dict
    from lrface.data.multi import open_set_pairs
    from lrface.data.sources import load_data

    cfg = config_from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    images, labels = load_data(cfg).splits["val_open"]
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    return cfg.train.seed, list(np.asarray(images)), a, b, same, fold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--models", nargs="*", default=[], help="packaged model names or ONNX files, scored on every seed")
    ap.add_argument("--lfw", nargs=2, metavar=("PAIRS", "IMAGES"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from lrface.evaluation.evaluate import evaluate_pairs
    from lrface.evaluation.verification import verification_metrics
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    by_seed: dict[int, list[Path]] = {}
    for run in args.runs:
        by_seed.setdefault(validation_seed(run), []).append(run)
    out, lfw_cache = [], {}
    for seed, runs in sorted(by_seed.items()):
        _, images, a, b, same, fold = validation(runs[0])
        models = [(r.name, r / "export" / "student.onnx") for r in runs]
        models += [(m, Path(resolve_model(m))) for m in args.models]
        for label, onnx in models:
            emb = Embedder(onnx).embed(images)
            rec = {
                "seed": seed,
                "model": label,
                "val": verification_metrics(np.sum(emb[a] * emb[b], 1), same, fold, FARS),
            }
            if args.lfw:
                if onnx not in lfw_cache:
                    lfw_cache[onnx] = evaluate_pairs(args.lfw[0], args.lfw[1], onnx, FARS, warn=lambda *_: None)[0]
                rec["lfw"] = lfw_cache[onnx]
            out.append(rec)
            cells = row_numbers(rec["val"]) + (row_numbers(rec["lfw"]) if args.lfw else [])
            print(f"| {seed} | {label} | " + " | ".join(f"{v:.2f}" for v in cells) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


def validation_seed(run: Path) -> int:
    import yaml

    return int(yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"])


if __name__ == "__main__":
    main()
