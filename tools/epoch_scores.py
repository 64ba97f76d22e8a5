"""Every kept epoch of a run scored on validation, and which epoch each checkpoint rule would choose.

A run trained with ``train.keep_epochs=true`` holds ``checkpoints/epoch-<N>.pt``. Each is exported to
``export/epoch-<N>.onnx`` (verified against torch, as ``lrface export``) and scored as tools/compare_runs.py
scores a run: the run's open-set validation (protocol accuracy, TAR at FAR 1e-2, the dense TAR at FAR 1e-3)
and, with ``--unseen PACKED --exclude ...``, the people no compared model trained on. Then, per rule of
``train.select_metric`` (acc, dense_tar1e-3) and for the last epoch, the epoch chosen (ties: the later, as
the trainer) and its unseen numbers. The trainer picks on its own evaluation (bf16 under the speed set);
here every epoch is scored in fp32 by onnxruntime, so a pick can differ by an epoch.

    python tools/epoch_scores.py RUN [RUN ...] [--unseen PACKED --exclude SRC [SRC ...]] [--json F]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

RULES = {"acc": "val_acc", "dense_tar1e-3": "val_dense_tar1e-3"}


def kept_epochs(run: Path) -> list[tuple[int, Path]]:
    """(epoch, checkpoint) of ``run/checkpoints/epoch-<N>.pt``, in epoch order."""
    found = [
        (int(m.group(1)), p)
        for p in run.glob("checkpoints/epoch-*.pt")
        if (m := re.fullmatch(r"epoch-(\d+)\.pt", p.name))
    ]
    return sorted(found)


def choose(rows: list[dict], rule: str) -> dict:
    """The row a rule picks: the highest score (the later epoch on ties), or the last epoch for ``last``."""
    rows = sorted(rows, key=lambda r: r["epoch"])
    if rule == "last":
        return rows[-1]
    return max(reversed(rows), key=lambda r: r[RULES[rule]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--unseen", type=Path, help="packed set of people no compared model trained on")
    ap.add_argument("--exclude", nargs="*", type=Path, default=[], help="with --unseen: every training source")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import compare_runs as cr

    from lrface.export import export_onnx
    from lrface.inference.embedder import Embedder

    unseen = cr.unseen_set(args.unseen, args.exclude) if args.unseen else None
    out = []
    for run in args.runs:
        epochs = kept_epochs(run)
        if not epochs:
            raise SystemExit(f"{run}: no checkpoints/epoch-<N>.pt; train with --set train.keep_epochs=true")
        val = cr.validation(run)
        seed, images = val[0], val[1]
        rows = []
        for epoch, pt in epochs:
            onnx = run / "export" / f"epoch-{epoch}.onnx"
            if not onnx.exists():
                export_onnx(pt, onnx, log=lambda *_: None)
            embedder = Embedder(onnx)
            v = cr.validation_metrics(embedder.embed(images), val)
            row = {"run": str(run), "seed": seed, "epoch": epoch, "val_acc": 100 * v["accuracy"]}
            row["val_tar1e-2"] = 100 * v["tar_at_far"][0]["tar"]
            row["val_dense_tar1e-3"] = 100 * v["dense_tar1e-3"]
            if unseen is not None:
                u = cr.unseen_scores(embedder, *unseen, misaligned=False)["unseen"]
                row |= {"unseen_acc": 100 * u["accuracy"], "unseen_top1": 100 * u["top1"]}
                row |= {f"unseen_tar{k}": 100 * v for k, v in u["tar"].items()}
            rows.append(row)
            print(
                " | ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True
            )
        for rule in (*RULES, "last"):
            r = choose(rows, rule)
            tail = (
                f", unseen acc {r['unseen_acc']:.2f} TAR@1e-3 {r['unseen_tar0.001']:.2f}" if unseen is not None else ""
            )
            print(f"{run.name}: by {rule}: epoch {r['epoch']}{tail}")
        out += rows
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
