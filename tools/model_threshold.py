"""Verification thresholds for an exported student, chosen on its run's open-set validation.

The identities a run held out of training (``data.val_identities``, the ``val_open`` split) are
embedded with the exported ONNX student and scored as the same seeded verification pairs the
trainer used; this prints the threshold of best accuracy and the thresholds at FAR 1e-2 / 1e-3 (the
default is the one at ``default_far``, 1e-3: docs/verify-threshold.md), as
the JSON ``thresholds`` block of a model card (``lrface/pretrained/<name>.json``), which
``Recognizer.verify`` / ``lrface verify`` use when no threshold and no calibrated gallery is given.
Never LFW: it is the test set.

With ``--unseen PACKED --exclude SOURCES...`` the thresholds come from the unseen-people validation of
``tools/compare_runs.py`` instead (every same and different pair of the people no training source holds; best
accuracy on the same pairs and as many random different pairs): for a model whose run's validation cannot set
them, e.g. a score ensemble whose members trained on each other's held-out people. The FAR thresholds are rounded
up to 4 decimals, so at most that share of the pairs passes.

    python tools/model_threshold.py RUN_DIR [--model RUN_DIR/export/student.onnx]
    python tools/model_threshold.py --model duo.onnx --unseen ../data/celeba-aligned16 --exclude SOURCES...
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def up4(x: float) -> float:
    """``x`` rounded up to 4 decimals (a FAR threshold rounded down could let one more impostor pass)."""
    return math.ceil(x * 1e4) / 1e4


def run_pairs(run: Path, model: Path | None):
    """(different-pair scores, best-accuracy threshold, source text) on the run's own open-set validation pairs, as
    the trainer scored them."""
    from lrface.data.multi import open_set_pairs
    from lrface.data.sources import run_validation
    from lrface.evaluation.verification import best_threshold, fold_accuracies
    from lrface.inference.embedder import Embedder

    cfg, images, labels = run_validation(run)
    emb = Embedder(model or run / "export" / "student.onnx").embed(list(np.asarray(images)))
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    scores = np.sum(emb[a] * emb[b], axis=1)
    value, acc = best_threshold(scores, same)
    accs, _ = fold_accuracies(scores, same, fold)
    source = (
        f"open-set validation of the training run: {len(np.unique(labels))} identities held out of "
        f"training, {int(same.sum())} same + {int((~same).sum())} different pairs; 'verify' maximises "
        f"accuracy there ({100 * acc:.2f} %, 10-fold {100 * np.mean(accs):.2f} %)"
    )
    return scores[~same], value, source


def unseen_pairs(packed: Path, exclude: list[Path], model: Path):
    """(different-pair scores, best-accuracy threshold, source text) over every pair of the unseen people
    (compare_runs.py's set); best accuracy on its balanced pairs, the ones compare_runs' accuracy uses."""
    from compare_runs import balanced_pick, unseen_set

    from lrface.evaluation.verification import best_threshold, dense_pairs
    from lrface.inference.embedder import Embedder

    images, labels = unseen_set(packed, exclude)
    scores, same, _ = dense_pairs(Embedder(model).embed(list(images)), labels)
    gen, imp = scores[same], scores[~same]
    pick = balanced_pick(same)
    value, acc = best_threshold(np.r_[gen, imp[pick]], np.r_[np.ones(len(gen), bool), np.zeros(len(gen), bool)])
    source = (
        f"the unseen-people validation ({len(np.unique(labels))} people in no training source: {len(gen)} same "
        f"and {len(imp)} different pairs): the thresholds at FAR 1e-2 and 1e-3 of its different pairs, and "
        f"'verify' maximises accuracy on its same pairs and as many random different pairs ({100 * acc:.2f} %). "
        "Never LFW"
    )
    return imp, value, source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "run", type=Path, nargs="?", help="the training run directory (config.yaml with data.val_identities)"
    )
    ap.add_argument("--model", type=Path, help="exported student (default RUN/export/student.onnx)")
    ap.add_argument("--unseen", type=Path, help="packed set of people no training source holds (instead of RUN)")
    ap.add_argument("--exclude", nargs="*", type=Path, default=[], help="with --unseen: every training source")
    args = ap.parse_args()
    if (args.run is None) == (args.unseen is None):
        ap.error("pass RUN_DIR, or --unseen PACKED --exclude SOURCES... with --model")
    if args.unseen is not None and args.model is None:
        ap.error("--unseen needs --model")

    from lrface.inference.threshold import DEFAULT_FAR, threshold_at_far

    if args.unseen is not None:
        impostors, value, source = unseen_pairs(args.unseen, args.exclude, args.model)
        where = {"validation": "the unseen-people validation"}  # printed with every answer that uses them
    else:
        impostors, value, source = run_pairs(args.run, args.model)
        where = {}  # the default wording: its (run's) open-set validation
    far_thresholds = {f"{far:g}": up4(threshold_at_far(impostors, far)) for far in (1e-2, 1e-3)}
    card = {"verify": round(value, 4), "verify_far": far_thresholds, "default_far": DEFAULT_FAR, **where}
    print(json.dumps({**card, "source": source}, indent=2))


if __name__ == "__main__":
    main()
