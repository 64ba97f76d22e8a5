"""Flip averaging at test time, measured on a run's open-set validation (never on LFW).

For each run directory (trained with ``data.val_identities`` and exported with ``lrface export --onnx``):
the exported student's open-set validation with plain embeddings and with the mean of the embeddings of
the image and its mirror image; prints a table.

    python tools/flip_tta.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from lrface.config import config_from_dict
from lrface.data.multi import open_set_pairs
from lrface.data.sources import load_data
from lrface.evaluation.verification import verification_metrics
from lrface.inference.embedder import Embedder


def scores(run: Path) -> dict[str, tuple[float, float, float]]:
    cfg = config_from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    images, labels = load_data(cfg).splits["val_open"]
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    emb = Embedder(run / "export" / "student.onnx")
    plain = emb.embed(images)
    flip = plain + emb.embed(np.ascontiguousarray(images[:, :, ::-1]))
    flip /= np.linalg.norm(flip, axis=1, keepdims=True)
    out = {}
    for name, e in (("plain", plain), ("flip-averaged", flip)):
        r = verification_metrics(np.sum(e[a] * e[b], axis=1), same, fold, fars=(1e-2,))
        out[name] = (100 * r["accuracy"], 100 * r["tar_at_far"][0]["tar"], r["auc"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories with config.yaml and export/student.onnx")
    runs = ap.parse_args().runs
    for run in runs:
        for need in ("config.yaml", "export/student.onnx"):
            if not (run / need).is_file():
                ap.error(f"{run / need} not found: pass a run directory exported with `lrface export --onnx RUN`")
    print("| run | embedding | val acc (%) | val TAR@FAR 1e-2 (%) | val AUC |")
    print("|---|---|---:|---:|---:|")
    for run in runs:
        for name, (acc, tar, auc) in scores(run).items():
            print(f"| {run.name} | {name} | {acc:.2f} | {tar:.2f} | {auc:.4f} |")


if __name__ == "__main__":
    main()
