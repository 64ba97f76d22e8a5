"""Low-FAR verification of exported students on the training run's open-set validation (inference only).

The validation identities, faces and the 3,000 + 3,000 pairs are the ones the trainer scored (the config's
``data.val_identities`` split, ``open_set_pairs``); the training faces (training split, validation identities
excluded) fit the embedding normalisations. Variants: plain; test-time flip (mean of the image's and the mirror
image's embeddings, renormalised); centering / shrunk PCA whitening fitted on training embeddings
(lrface.evaluation.whitening); AS-norm of the pair scores against a cohort of training faces; flip + those. For each: the protocol's 10-fold accuracy and TAR at FAR 1e-2 / 1e-3
on the 6,000 pairs (lrface.evaluation.verification, as the model card), and TAR at FAR on the dense pairs (every
same-identity and every cross-identity pair of the validation faces) with a bootstrap over identities.
``--lfw`` then scores LFW-16 for the named variants (test only: choose on validation first).

    python tools/lowfar_eval.py --data /work/data [--models sr18-celeba-ekd60 ...] [--lfw plain,chosen]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FARS = (1e-2, 1e-3)
SHRINKS = (0.0, 0.3, 0.6)
DIMS = (None, 64)
COHORT_K = (100, 1000, None)  # AS-norm: the top-k cohort scores per face (None: all)
ACC_SLACK = 0.5  # a variant may cost at most this much validation accuracy (points) to be chosen


def weighted_tar(gen_s, gen_w, imp_sorted_desc, imp_w_sorted, far):
    """TAR at the threshold letting at most ``far`` of the impostor weight through (pairs weighted)."""
    cw = np.cumsum(imp_w_sorted)
    k = int(np.searchsorted(cw, far * cw[-1] + 1e-9, side="right"))  # impostors that may pass
    if k >= len(imp_sorted_desc):
        return 1.0
    t = imp_sorted_desc[k]  # the first impostor that must be rejected: accept scores above it
    return float(np.sum(gen_w * (gen_s > t)) / np.sum(gen_w))


def dense_pairs(labels):
    """Every pair i < j of the validation faces: (i, j, same)."""
    i, j = np.triu_indices(len(labels), 1)
    return i, j, labels[i] == labels[j]


def cohort_stats(e, cohort, k: int | None, chunk: int = 1024):
    """Mean and sd of each row's cosine scores against the cohort (its ``k`` highest only, adaptive)."""
    mu, sd = np.empty(len(e)), np.empty(len(e))
    for i in range(0, len(e), chunk):
        s = e[i : i + chunk] @ cohort.T
        if k:
            s = np.partition(s, -k, axis=1)[:, -k:]
        mu[i : i + chunk], sd[i : i + chunk] = s.mean(axis=1), s.std(axis=1)
    return mu, sd


def pair_scores(v, ia, ib):
    """Cosine per pair for embeddings ``v``; for ``v = (E, mu, sd)`` the (adaptive) symmetric score normalisation
    (AS-norm): ((s - mu_a) / sd_a + (s - mu_b) / sd_b) / 2."""
    if not isinstance(v, tuple):
        return np.sum(v[ia] * v[ib], axis=1)
    e, mu, sd = v
    s = np.sum(e[ia] * e[ib], axis=1)
    return 0.5 * ((s - mu[ia]) / sd[ia] + (s - mu[ib]) / sd[ib])


def score_matrix(v):
    if not isinstance(v, tuple):
        return v @ v.T
    e, mu, sd = v
    s = e @ e.T
    return 0.5 * ((s - mu[:, None]) / sd[:, None] + (s - mu[None]) / sd[None])


def dense_report(emb, labels, boot: int, seed: int = 0, draws: bool = False):
    """TAR at FAR on all pairs (project rule) and its bootstrap over identities (2.5 / 97.5 percentiles); the same
    identity draws for every variant (seeded), so paired differences can be taken."""
    from lrface.evaluation.verification import tar_at_far

    i, j, same = dense_pairs(labels)
    s = score_matrix(emb)[i, j]
    out = {"same_pairs": int(same.sum()), "impostor_pairs": int((~same).sum())}
    for far in FARS:
        r = tar_at_far(s, same, far)
        out[f"tar{far:g}"], out[f"threshold{far:g}"] = 100 * r["tar"], r["threshold"]
    ids = np.unique(labels)
    li, lj = np.searchsorted(ids, labels[i]), np.searchsorted(ids, labels[j])
    gi, gs = li[same], s[same]
    order = np.argsort(-s[~same], kind="stable")
    imp_s, ia, ib = s[~same][order], li[~same][order], lj[~same][order]
    rng = np.random.default_rng(seed)
    draws_wanted, draws = draws, {far: [] for far in FARS}
    for _ in range(boot):
        w = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids)).astype(np.float64)
        for far in FARS:
            draws[far].append(weighted_tar(gs, w[gi], imp_s, w[ia] * w[ib], far))
    for far in FARS:
        lo, hi = np.percentile(100 * np.array(draws[far]), [2.5, 97.5]) if boot else (np.nan, np.nan)
        out[f"tar{far:g}_ci"] = [float(lo), float(hi)]
    return (out, draws) if draws_wanted else out


def protocol_report(emb, a, b, same, fold) -> dict:
    from lrface.evaluation.verification import verification_metrics

    r = verification_metrics(pair_scores(emb, a, b), same, fold, fars=FARS)
    out = {"acc": 100 * r["accuracy"], "acc_std": 100 * r["accuracy_std"], "auc": r["auc"]}
    for t in r["tar_at_far"]:
        out[f"tar{t['far']:g}"] = 100 * t["tar"]
        out[f"impostors_passing{t['far']:g}"] = int(np.floor(t["far"] * (~same).sum() + 1e-9))
    return out


def variants(embed, fit_sets: dict, val_images) -> tuple[dict, dict]:
    """{variant: (validation embeddings, transform of (plain, flipped) embeddings of new faces)} and the number
    of faces each fit set has; normalisations are fitted on each fit set (``{name: (images, labels)}``)."""
    from lrface.evaluation.whitening import apply_whitening, fit_whitening

    def flip_avg(p, f):
        m = p + f
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def both(images):
        return embed(images), embed(np.ascontiguousarray(images[:, :, ::-1]))

    out = {"plain": (lambda p, f: p.astype(np.float64)), "flip": flip_avg}
    fit_emb = {src: (both(im), lb) for src, (im, lb) in fit_sets.items()}
    for base, fn in (("", lambda p, f: p), ("flip+", flip_avg)):
        for src, ((p, f), lb) in fit_emb.items():
            tr = fn(p, f)
            fits = {"center": fit_whitening(tr, whiten=False)}
            for s in SHRINKS:
                for d in DIMS:
                    tag = f"-s{s:g}" + (f"-d{d}" if d else "")
                    fits["white" + tag] = fit_whitening(tr, shrink=s, dim=d)
                    fits["wccn" + tag] = fit_whitening(tr, shrink=s, dim=d, labels=lb)
            for name, w in fits.items():
                out[f"{base}{src}-{name}"] = lambda p, f, fn=fn, w=w: apply_whitening(fn(p, f), w)
            for k in COHORT_K:
                out[f"{base}{src}-asnorm-k{k or 'all'}"] = lambda p, f, fn=fn, c=tr, k=k: (
                    fn(p, f),
                    *cohort_stats(fn(p, f), c, k),
                )
    va = both(val_images)
    return {name: (t(*va), t) for name, t in out.items()}, {k: len(v[1]) for k, v in fit_sets.items()}


def fit_sets(bundle, data: Path, extra: Path | None) -> dict:
    """The training split (validation identities are not in it) and, given, a set of identities the model
    never saw (those whose name occurs in the training sources dropped)."""
    from lrface.data.packed import read_packed_set

    sets = {"train": tuple(np.asarray(v) for v in bundle.splits["train"])}
    if extra is not None:
        seen = {c for s in ("celeba-wild16", "celeba-deep16") for c in read_packed_set(data / s).class_names}
        ps = read_packed_set(extra)
        im, lb = (np.asarray(v) for v in ps.splits["all"])
        keep = ~np.isin(lb, [i for i, c in enumerate(ps.class_names) if c in seen])
        sets["extra"] = (im[keep], lb[keep])
    return sets


def lfw_report(model, transforms: dict, pairs: Path, images: Path) -> dict:
    from lrface.evaluation.pair_align import aligned_pair_images
    from lrface.evaluation.verification import metrics_from_embeddings, parse_pairs, verification_metrics
    from lrface.inference.embedder import Embedder

    pf = parse_pairs(pairs)
    emb = Embedder(model)
    faces, _ = aligned_pair_images(pf, images, emb.spec.size)
    keys = pf.keys
    x = np.stack([faces[k] for k in keys])
    p, f = emb.embed(x), emb.embed(np.ascontiguousarray(x[:, :, ::-1]))
    out = {}
    ia, ib = pf.key_indices()
    for name, t in transforms.items():
        v = t(p, f)
        if isinstance(v, tuple):
            r = verification_metrics(
                pair_scores(v, ia, ib), [q.same for q in pf.pairs], [q.fold for q in pf.pairs], FARS
            )
        else:
            r, _ = metrics_from_embeddings(pf, dict(zip(keys, v)), FARS)
        out[name] = {"acc": 100 * r["accuracy"], "acc_std": 100 * r["accuracy_std"], "auc": r["auc"]}
        out[name].update({f"tar{t_['far']:g}": 100 * t_["tar"] for t_ in r["tar_at_far"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/face/packaged-student.yaml")
    ap.add_argument("--data", type=Path, required=True, help="folder holding celeba-wild16 and celeba-deep16")
    ap.add_argument("--extra", type=Path, help="packed set of unseen identities to fit normalisations on as well")
    ap.add_argument("--models", nargs="+", default=["sr18-celeba-ekd60"])
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap draws over identities (0: none)")
    ap.add_argument(
        "--lfw",
        default="",
        help="comma-separated variants to score on LFW-16 (test only); 'chosen': the one chosen on validation",
    )
    ap.add_argument("--pairs", type=Path, default=Path("../shared/data/lfw/pairs.txt"))
    ap.add_argument("--images", type=Path, default=Path("../shared/data/lfw/lfw-deepfunneled"))
    ap.add_argument("--out", type=Path, help="write every number as JSON here")
    args = ap.parse_args()

    from lrface.config import load_config
    from lrface.data.multi import open_set_pairs
    from lrface.data.sources import load_data
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    paths = [str(args.data / "celeba-wild16"), str(args.data / "celeba-deep16")]
    cfg = load_config(args.config, [f"data.path={json.dumps(paths)}"])
    bundle = load_data(cfg)
    val_images, labels = (np.asarray(v) for v in bundle.splits["val_open"])
    sets = fit_sets(bundle, args.data, args.extra)
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    results = {}
    for model in args.models:
        embedder = Embedder(resolve_model(model))
        table, n_fit = variants(embedder.embed, sets, val_images)
        rows = {}
        for name, (emb, _) in table.items():
            rows[name] = {"protocol": protocol_report(emb, a, b, same, fold)}
            rows[name]["dense"] = dense_report(emb, labels, 0)
        floor = rows["plain"]["protocol"]["acc"] - ACC_SLACK
        ok = [n for n in rows if rows[n]["protocol"]["acc"] >= floor]
        best = max(ok, key=lambda n: (rows[n]["dense"]["tar0.001"], rows[n]["protocol"]["acc"]))
        draws = {}
        for name in dict.fromkeys(["plain", "flip", best]):
            rows[name]["dense"], draws[name] = dense_report(table[name][0], labels, args.bootstrap, draws=True)
        for name, ref, key in [(n, "plain", "gain_ci") for n in draws] + [(best, "flip", "gain_vs_flip_ci")]:
            for far in FARS:
                diff = 100 * (np.array(draws[name][far]) - np.array(draws[ref][far]))
                rows[name]["dense"][f"tar{far:g}_{key}"] = np.percentile(diff, [2.5, 97.5]).tolist()
        results[model] = {"fit_faces": n_fit, "val_faces": len(labels), "chosen": best, "variants": rows}
        print(
            f"\n{model}: normalisations fitted on {n_fit} faces, {len(labels)} validation faces; chosen {best} "
            f"(highest dense TAR@1e-3 with val acc >= plain - {ACC_SLACK})"
        )
        print("| variant | val acc | TAR@1e-2 | TAR@1e-3 (6k) | dense TAR@1e-2 | dense TAR@1e-3 [95% CI] |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            p, d = r["protocol"], r["dense"]
            ci = (
                ""
                if "tar0.001_gain_ci" not in d
                else " [{:.1f}, {:.1f}], gain [{:.1f}, {:.1f}]".format(*d["tar0.001_ci"], *d["tar0.001_gain_ci"])
            )
            print(
                f"| {name} | {p['acc']:.2f} +- {p['acc_std']:.2f} | {p['tar0.01']:.2f} | {p['tar0.001']:.2f} | "
                f"{d['tar0.01']:.2f} | {d['tar0.001']:.2f}{ci} |"
            )
        g = rows[best]["dense"]["tar0.001_gain_vs_flip_ci"]
        print(f"{best} vs flip, dense TAR@1e-3 gain 95% CI (paired identity bootstrap): [{g[0]:.1f}, {g[1]:.1f}]")
        d = rows["plain"]["dense"]
        print(
            f"6k pairs: {int(same.sum())} same + {int((~same).sum())} impostors; dense: {d['same_pairs']} same + "
            f"{d['impostor_pairs']} impostors"
        )
        if args.lfw:
            names = list(dict.fromkeys(best if n.strip() == "chosen" else n.strip() for n in args.lfw.split(",")))
            results[model]["lfw"] = lfw_report(
                resolve_model(model), {n: table[n][1] for n in names}, args.pairs, args.images
            )
            for n, r in results[model]["lfw"].items():
                print(
                    f"LFW-16 {model} {n}: acc {r['acc']:.2f} +- {r['acc_std']:.2f}, TAR@1e-2 {r['tar0.01']:.2f}, "
                    f"TAR@1e-3 {r['tar0.001']:.2f}, AUC {r['auc']:.4f}"
                )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
