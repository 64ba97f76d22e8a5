"""Quality-weighted pair scores on the unseen people: does a per-face quality raise TAR at FAR 1e-3?

A face's quality is read from the student itself (a training run's best.pt, torch): the norm of its embedding
before L2 normalisation (the MagFace idea), its log maximum softmax probability over the training people, or the
softmax entropy. A pair's score becomes cos + lambda * q, q = z(a) + z(b) ("sum") or min(z(a), z(b)) ("min"),
z the quality standardised over the faces. Two-fold by person: the unseen people (compare_runs.py's set) are
split in halves (rng 0); lambda and the mode are chosen on one half by its dense TAR@1e-3 and read on the other.
Research only (results/2026-12-05-trio-and-flip.md); nothing in lrface uses it.

    python tools/quality_rescore.py RUN_DIR --unseen ../data/celeba-aligned16 --exclude SOURCES...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LAMBDAS = (-0.03, -0.01, -0.005, 0.005, 0.01, 0.02, 0.05)  # besides 0, the plain score


def qualities(run: Path, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(L2-normalised embeddings, {quality name: one value per face}) of the run's best.pt student."""
    import torch

    from lrface.engine.checkpoint import load_student
    from lrface.preprocess import PreprocessSpec, preprocess

    backbone, meta = load_student(run)
    backbone.eval()
    spec = PreprocessSpec.from_dict(meta["preprocess"])
    feats, logits = [], []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            lg, f = backbone(torch.from_numpy(preprocess(images[i : i + 256], spec)))
            feats.append(f.numpy())
            logits.append(lg.numpy())
    f, lg = np.concatenate(feats).astype(np.float64), np.concatenate(logits).astype(np.float64)
    norm = np.linalg.norm(f, axis=1)
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = {"feature norm": norm, "log max softmax": np.log(p.max(1)), "negative entropy": (p * np.log(p + 1e-12)).sum(1)}
    return f / norm[:, None], q


def grid(emb, labels, z) -> dict[tuple[float, str], float]:
    """{(lambda, mode): dense TAR@1e-3} of the re-scored pairs of these faces; the plain score (lambda 0, either
    mode) once, first, so that ties keep it."""
    from lrface.evaluation.verification import dense_pairs, tar_at_far

    s, same, (i, j) = dense_pairs(emb, labels)
    out = {(0.0, "sum"): tar_at_far(s, same, 1e-3)["tar"]}
    for mode, q in (("sum", z[i] + z[j]), ("min", np.minimum(z[i], z[j]))):
        for lam in LAMBDAS:
            out[lam, mode] = tar_at_far(s + lam * q, same, 1e-3)["tar"]
    return out


def main() -> None:
    from compare_runs import unseen_set

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="training run directory (its best.pt)")
    ap.add_argument("--unseen", type=Path, required=True, help="packed set of people no training source holds")
    ap.add_argument("--exclude", nargs="*", type=Path, default=[], help="every training source")
    args = ap.parse_args()
    images, labels = unseen_set(args.unseen, args.exclude)
    emb, q = qualities(args.run, images)
    ids = np.unique(labels)
    first = np.isin(labels, np.random.default_rng(0).permutation(ids)[: len(ids) // 2])
    halves = (first, ~first)
    print(f"{len(ids)} unseen people, {len(labels)} faces; dense TAR@1e-3 %, lambda chosen on the other half")
    print("| quality | half | chosen (lambda, mode) | plain | re-scored | difference |")
    print("|---|---:|---|---:|---:|---:|")
    for name, v in q.items():
        z = (v - v.mean()) / v.std()
        grids = [grid(emb[h], labels[h], z[h]) for h in halves]
        for k, (pick_on, read_on) in enumerate(((0, 1), (1, 0))):
            key = max(grids[pick_on], key=grids[pick_on].get)
            plain, new = 100 * grids[read_on][0.0, "sum"], 100 * grids[read_on][key]
            print(f"| {name} | {k + 1} | {key[0]:g}, {key[1]} | {plain:.2f} | {new:.2f} | {new - plain:+.2f} |")


if __name__ == "__main__":
    main()
