"""Verification thresholds for an exported student, chosen on its run's open-set validation.

The identities a run held out of training (``data.val_identities``, the ``val_open`` split) are
embedded with the exported ONNX student and scored as the same seeded verification pairs the
trainer used; this prints the threshold of best accuracy and the thresholds at FAR 1e-2 / 1e-3 (the
default is the one at ``default_far``, 1e-3: docs/verify-threshold.md), as
the JSON ``thresholds`` block of a model card (``lrface/pretrained/<name>.json``), which
``Recognizer.verify`` / ``lrface verify`` use when no threshold and no calibrated gallery is given.
Never LFW: it is the test set.

    python tools/model_threshold.py RUN_DIR [--model RUN_DIR/export/student.onnx]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the training run directory (config.yaml with data.val_identities)")
    ap.add_argument("--model", type=Path, help="exported student (default RUN/export/student.onnx)")
    args = ap.parse_args()

    from lrface.data.multi import open_set_pairs
    from lrface.data.sources import run_validation
    from lrface.evaluation.verification import best_threshold, fold_accuracies
    from lrface.inference.embedder import Embedder
    from lrface.inference.threshold import DEFAULT_FAR, threshold_at_far

    cfg, images, labels = run_validation(args.run)
    emb = Embedder(args.model or args.run / "export" / "student.onnx").embed(list(np.asarray(images)))
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    scores = np.sum(emb[a] * emb[b], axis=1)
    value, acc = best_threshold(scores, same)
    accs, _ = fold_accuracies(scores, same, fold)
    impostors = scores[~same]
    print(
        json.dumps(
            {
                "verify": round(value, 4),
                "verify_far": {f"{far:g}": round(threshold_at_far(impostors, far), 4) for far in (1e-2, 1e-3)},
                "default_far": DEFAULT_FAR,
                "source": (
                    f"open-set validation of the training run: {len(np.unique(labels))} identities held out of "
                    f"training, {int(same.sum())} same + {int((~same).sum())} different pairs; 'verify' maximises "
                    f"accuracy there ({100 * acc:.2f} %, 10-fold {100 * np.mean(accs):.2f} %)"
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
