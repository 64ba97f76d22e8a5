"""Cohort-normalised pair scores on the unseen people and LFW-16 (inference only; issue 21, the low-FAR end).

Each face's hubness r = the mean of its k highest cosines to a fixed cohort of training faces; a pair scores
s - alpha * (r_a + r_b) / 2 (alpha 1: half of CSLS, Conneau et al. 2018, "Word translation without parallel
data"), or with ``--grid`` also AS-norm's ((s - r_a) / sd_a + (s - r_b) / sd_b) / 2 over the same top k. The
cohort: ``--cohort-per-source`` faces drawn (numpy default_rng(0)) from each training source (the ``--exclude``
sets). The unseen people are compare_runs.py's. ``--grid`` chooses k / alpha / kind two-fold by person (half A
chooses, half B scores, and back) to show what the choice is worth on faces it did not see; ``--misaligned``
scores the unseen people again with every face but each person's first misaligned (compare_runs.py's); ``--lfw``
scores LFW-16 with the fixed ``--k`` / ``--alpha`` (test: read after the choice).

    python tools/cohort_eval.py --models sr18-celeba-x2hs-emb90-kd --unseen ../data/celeba-aligned16 \
        --exclude ../data/celeba-wild16 ../data/celeba-deep16 ../data/celeba-wild-extra16 --grid \
        --lfw ../shared/data/lfw/pairs.txt ../shared/data/lfw/lfw-deepfunneled
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_runs import misaligned_probes, unseen_set  # noqa: E402
from lfw_bootstrap import paired_tars  # noqa: E402
from lowfar_eval import cohort_stats  # noqa: E402

FARS = (1e-2, 1e-3, 1e-4)
GRID = [("csls", k, a) for k in (10, 50, 200) for a in (0.5, 1.0)] + [("asnorm", k, 0.0) for k in (10, 50, 200)]


def normaliser(emb: np.ndarray, cohort: np.ndarray, kind: str, k: int, alpha: float):
    """score(s, i, j) for faces i, j of ``emb`` (plain cosine for kind 'plain')."""
    if kind == "plain":
        return lambda s, i, j: s
    mu, sd = cohort_stats(emb, cohort, k)
    if kind == "csls":
        return lambda s, i, j: s - alpha * 0.5 * (mu[i] + mu[j])
    return lambda s, i, j: 0.5 * ((s - mu[i]) / sd[i] + (s - mu[j]) / sd[j])


def dense_tars(emb: np.ndarray, labels: np.ndarray, rows: np.ndarray, score) -> dict:
    """TAR at each FAR over every pair of the faces ``rows`` (percent), and the genuine pairs' count."""
    from lrface.evaluation.verification import tar_at_far

    i, j = np.triu_indices(len(rows), 1)
    s = (emb[rows] @ emb[rows].T)[i, j]
    i, j = rows[i], rows[j]
    s = score(s, i, j)
    same = labels[i] == labels[j]
    out = {f"{f:g}": 100 * tar_at_far(s, same, f)["tar"] for f in FARS}
    out["genuine"] = int(same.sum())
    return out


def crossfit(emb, labels, cohort) -> list[dict]:
    """Two-fold by person: the grid's best TAR@1e-3 on one half, scored with plain on the other."""
    people = np.unique(labels)
    np.random.default_rng(1).shuffle(people)
    halves = [np.flatnonzero(np.isin(labels, part)) for part in np.array_split(people, 2)]
    out = []
    for h in (0, 1):
        best = max(GRID, key=lambda c: dense_tars(emb, labels, halves[h], normaliser(emb, cohort, *c))["0.001"])
        other = halves[1 - h]
        plain = dense_tars(emb, labels, other, normaliser(emb, cohort, "plain", 0, 0))
        chosen = dense_tars(emb, labels, other, normaliser(emb, cohort, *best))
        out.append({"chosen_on": h, "chosen": list(best), "plain": plain, "normalised": chosen})
    return out


def lfw(embedder, cohort, pairs_path: str, images_dir: str, k: int, alpha: float) -> dict:
    """LFW-16's 10-fold accuracy and TAR at FAR 1e-2 / 1e-3, plain and normalised (percent)."""
    from lrface.evaluation.pair_align import aligned_pair_images
    from lrface.evaluation.verification import parse_pairs, verification_metrics

    pf = parse_pairs(pairs_path)
    images, _ = aligned_pair_images(pf, images_dir, embedder.spec.size, print)
    emb = embedder.embed([images[key] for key in pf.keys])
    a, b = pf.key_indices()
    same, fold = [p.same for p in pf.pairs], [p.fold for p in pf.pairs]
    out, scores = {}, {}
    for kind in ("plain", "csls"):
        score = normaliser(emb, cohort, kind, k, alpha)
        scores[kind] = score(np.sum(emb[a] * emb[b], axis=1), a, b)
        m = verification_metrics(scores[kind], same, fold, FARS[:2])
        out[kind] = {"accuracy": 100 * m["accuracy"], **{f"{t['far']:g}": 100 * t["tar"] for t in m["tar_at_far"]}}
    out["bootstrap_1e-3"] = paired_bootstrap(scores["plain"], scores["csls"], np.asarray(same))
    return out


def paired_bootstrap(plain: np.ndarray, normed: np.ndarray, same: np.ndarray, draws: int = 2000) -> dict:
    """TAR@1e-3 on all pairs pooled (tools/lfw_bootstrap.py's rule), plain and normalised, and the 95 % interval
    of their difference over resamples of the genuine and the impostor pairs (the same draw for both: paired)."""
    point, boot = paired_tars(np.stack([plain, normed]), same, 1e-3, draws)
    return {
        "pooled_plain": float(100 * point[0]),
        "pooled_normalised": float(100 * point[1]),
        "diff_ci95": np.percentile(100 * (boot[1] - boot[0]), [2.5, 97.5]).tolist(),
    }


def main() -> None:
    from lrface.data.packed import read_packed_set
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["sr18-celeba-x2hs-emb90-kd"])
    p.add_argument("--unseen", type=Path, required=True)
    p.add_argument("--exclude", type=Path, nargs="+", required=True, help="every training source (the cohort)")
    p.add_argument("--cohort-per-source", type=int, default=3000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--grid", action="store_true", help="also the two-fold choice over k / alpha / kind")
    p.add_argument("--misaligned", action="store_true", help="also with every face but the enrolled first misaligned")
    p.add_argument("--lfw", nargs=2, metavar=("PAIRS", "IMAGES"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    images, labels = unseen_set(args.unseen, args.exclude)
    pools = [np.asarray(read_packed_set(src).splits["all"][0]) for src in args.exclude]
    picks = [rng_pick(len(pool), args.cohort_per_source) for pool in pools]
    report = []
    for name in args.models:
        embedder = Embedder(resolve_model(name))
        cohort = np.concatenate([embedder.embed(list(pool[pick])) for pool, pick in zip(pools, picks)])
        emb = embedder.embed(list(images))
        rows = np.arange(len(labels))
        rec = {"model": name, "cohort": len(cohort), "k": args.k, "alpha": args.alpha}
        for kind in ("plain", "csls"):
            rec[kind] = dense_tars(emb, labels, rows, normaliser(emb, cohort, kind, args.k, args.alpha))
        if args.grid:
            rec["crossfit"] = crossfit(emb, labels, cohort)
        if args.misaligned:
            mixed = misaligned_probes(embedder, images, labels, emb)
            for kind in ("plain", "csls"):
                score = normaliser(mixed, cohort, kind, args.k, args.alpha)
                rec[f"misaligned_{kind}"] = dense_tars(mixed, labels, rows, score)
        if args.lfw:
            rec["lfw"] = lfw(embedder, cohort, *args.lfw, args.k, args.alpha)
        report.append(rec)
        print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def rng_pick(n: int, size: int) -> np.ndarray:
    """``size`` of ``n`` indices without replacement (all when fewer), numpy default_rng(0)."""
    return np.random.default_rng(0).choice(n, min(n, size), replace=False)


if __name__ == "__main__":
    main()
