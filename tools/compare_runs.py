"""Exported students side by side: open-set validation first, then LFW-16 (inference only, CPU).

Each RUN is a training run directory with ``export/student.onnx``; runs are grouped by their validation (the
identities their config held out and the trainer's 3,000 + 3,000 seeded pairs: the same seed and data give the
same one), which scores every run of the group and every ``--models`` entry (packaged model names or ONNX
files) on the same pairs, so differences within a group are paired. A ``--models`` entry's validation columns
are marked ``(not held out)``: it was trained with its own seed, so most of these people were likely in its
training data and its numbers there are optimistic; compare it on ``--unseen`` and LFW-16. Per row: the protocol's 10-fold accuracy and TAR at
FAR 1e-2 / 1e-3 on validation, then the dense TAR at FAR 1e-3 over every pair of the validation faces; with ``--lfw PAIRS IMAGES``, the same on LFW-16 (the test set: read it
after choosing on validation). ``--json`` keeps every number.

``--unseen PACKED --exclude SOURCE ...`` adds a validation that no compared model trained on: the identities
of the packed set PACKED (e.g. `lrface prepare folder` of celeba-aligned) whose names are in none of the
EXCLUDE sets (every training source of every model compared) and have two faces or more. Every same-identity
pair is a genuine pair and every cross-identity pair an impostor (dense), so TAR is read down to FAR 1e-4;
the accuracy is the protocol's 10-fold one on the genuine pairs and as many impostors drawn at random
(seed 0), folds by identity; top-1 enrols each identity's first face and names every other face among all
of them. It is scored once per model (independent of the runs' seeds). ``--misaligned`` scores it again with
every face but each identity's enrolled first one shrunk and shifted (``misalign``: faces that were not aligned
to the template, e.g. whole heads or a detector's loose crops): accuracy, TAR at FAR 1e-3 and top-1.

    python tools/compare_runs.py RUN [RUN ...] [--models sr18-celeba-ekd60] [--lfw PAIRS IMAGES] \
        [--unseen PACKED --exclude SRC [SRC ...] [--misaligned]] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FARS = (1e-2, 1e-3)
UNSEEN_FARS = (1e-2, 1e-3, 1e-4)


def row_numbers(metrics: dict) -> list[float]:
    tars = {t["far"]: t["tar"] for t in metrics["tar_at_far"]}
    return [100 * metrics["accuracy"], *(100 * tars[f] for f in FARS)]


def validation(run: Path):
    """(seed, images, labels, pairs a, pairs b, same, fold) of a run's open-set validation, as its trainer drew them."""
    from lrface.data.multi import open_set_pairs
    from lrface.data.sources import run_validation

    cfg, images, labels = run_validation(run)
    a, b, same, fold = open_set_pairs(labels, cfg.train.seed, cfg.data.val_pairs)
    return cfg.train.seed, list(images), np.asarray(labels), a, b, same, fold


def unseen_set(packed: Path, exclude: list[Path]):
    """(images, labels) of the identities of ``packed`` with >= 2 faces whose names no EXCLUDE set holds."""
    from lrface.data.packed import read_packed_set

    seen = set()
    for src in exclude:
        seen.update(read_packed_set(src).manifest["class_names"])
    ps = read_packed_set(packed)
    names = ps.manifest["class_names"]
    images, labels = (np.asarray(x) for x in ps.splits["all"])
    counts = np.bincount(labels, minlength=len(names))
    keep = np.array([names[c] not in seen and counts[c] >= 2 for c in labels])
    return images[keep], labels[keep]


def first_faces(labels: np.ndarray) -> np.ndarray:
    """True at each identity's first face (the one enrolled)."""
    first = np.zeros(len(labels), bool)
    first[np.unique(labels, return_index=True)[1]] = True
    return first


def misalign(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each face scaled by U(0.7, 0.9) about its centre and shifted by U(-0.08, 0.08) of the side on each axis
    (bilinear, reflected border; numpy's default_rng(seed)): what an unaligned crop looks like to a 16x16 model."""
    import cv2

    rng, out = np.random.default_rng(seed), np.empty_like(images)
    for k, im in enumerate(images):
        side = im.shape[0]
        m = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), 0, rng.uniform(0.7, 0.9))
        m[:, 2] += rng.uniform(-0.08, 0.08, 2) * side
        out[k] = cv2.warpAffine(im, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


def balanced_pick(same: np.ndarray) -> np.ndarray:
    """Indices into the different pairs (``~same``): as many as there are same pairs, drawn with numpy's
    default_rng(0); with the same pairs they are the balanced pairs of the unseen-people accuracy."""
    return np.random.default_rng(0).choice(int((~same).sum()), size=int(same.sum()), replace=False)


def unseen_metrics(emb: np.ndarray, labels: np.ndarray) -> dict:
    """Dense TAR at FAR and the 10-fold accuracy on genuine + as many random impostor pairs."""
    from lrface.evaluation.verification import dense_pairs, fold_accuracies, tar_at_far

    scores, same, (i, _) = dense_pairs(emb, labels)
    gen, imp = scores[same], scores[~same]
    out = {"identities": int(len(np.unique(labels))), "faces": int(len(labels)), "genuine": int(same.sum())}
    out["impostors"] = int(len(imp))
    out["tar"] = {f"{f:g}": tar_at_far(scores, same, f)["tar"] for f in UNSEEN_FARS}
    pick = balanced_pick(same)
    ga, ia = i[same], i[~same][pick]
    bal = np.r_[gen, imp[pick]]
    truth = np.r_[np.ones(len(gen), bool), np.zeros(len(gen), bool)]
    folds = np.r_[labels[ga], labels[ia]] % 10
    out["accuracy"] = float(fold_accuracies(bal, truth, folds)[0].mean())
    first = first_faces(labels)
    hits = labels[~first] == labels[first][np.argmax(emb[~first] @ emb[first].T, axis=1)]
    out["top1"] = float(hits.mean())  # each identity's first face enrolled, every other face a probe
    return out


def validation_metrics(emb: np.ndarray, val) -> dict:
    """The protocol's numbers on a run's validation pairs (``validation``) and the dense TAR@1e-3 over its faces."""
    from lrface.evaluation.verification import dense_tar, verification_metrics

    _, _, labels, a, b, same, fold = val
    out = verification_metrics(np.sum(emb[a] * emb[b], 1), same, fold, FARS)
    out["dense_tar1e-3"] = dense_tar(emb, labels, (1e-3,))[1e-3]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run dirs (none: --models on --unseen / --lfw only)")
    ap.add_argument("--models", nargs="*", default=[], help="packaged model names or ONNX files, scored on every seed")
    ap.add_argument("--lfw", nargs=2, metavar=("PAIRS", "IMAGES"))
    ap.add_argument("--unseen", type=Path, help="packed set of people no compared model trained on")
    ap.add_argument("--exclude", nargs="*", type=Path, default=[], help="with --unseen: every training source")
    ap.add_argument("--misaligned", action="store_true", help="with --unseen: also with misaligned probes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.runs and not (args.models and (args.unseen or args.lfw)):
        ap.error("pass run dirs, or --models with --unseen and/or --lfw")

    from lrface.evaluation.evaluate import evaluate_pairs
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    unseen = unseen_set(args.unseen, args.exclude) if args.unseen else None
    if unseen is not None:
        print(f"unseen: {len(np.unique(unseen[1]))} identities, {len(unseen[1])} faces", flush=True)
    unseen_cache: dict = {}
    groups: dict[tuple, tuple] = {}  # one per validation, not per seed: two configs may share a seed
    for run in args.runs:
        val = validation(run)
        groups.setdefault((val[0], validation_digest(val)), (val, []))[1].append(run)
    if len({seed for seed, _ in groups}) < len(groups):
        print("note: runs of one seed hold out different people (other data or settings): scored apart", flush=True)
    out, lfw_cache = [], {}
    for (seed, _), (val, runs) in sorted(groups.items(), key=lambda g: g[0][0]) or [((None, None), (None, []))]:
        models = [(r.name, r / "export" / "student.onnx", True) for r in runs]
        models += [(m, Path(resolve_model(m)), False) for m in args.models]
        for label, onnx, held_out in models:
            rec = {"seed": seed, "model": label}
            if val is not None:
                rec["val_held_out"] = held_out
                rec["val"] = validation_metrics(Embedder(onnx).embed(val[1]), val)
            if args.lfw:
                if onnx not in lfw_cache:
                    lfw_cache[onnx] = evaluate_pairs(args.lfw[0], args.lfw[1], onnx, FARS, warn=lambda *_: None)[0]
                rec["lfw"] = lfw_cache[onnx]
            if unseen is not None:
                if onnx not in unseen_cache:
                    unseen_cache[onnx] = unseen_scores(Embedder(onnx), *unseen, args.misaligned)
                rec.update(unseen_cache[onnx])
            out.append(rec)
            cells = [*row_numbers(rec["val"]), 100 * rec["val"]["dense_tar1e-3"]] if val is not None else []
            cells += row_numbers(rec["lfw"]) if args.lfw else []
            if unseen is not None:
                u = rec["unseen"]
                cells += [100 * u["accuracy"], *(100 * v for v in u["tar"].values()), 100 * u["top1"]]
            if "unseen_misaligned" in rec:
                u = rec["unseen_misaligned"]
                cells += [100 * u["accuracy"], 100 * u["tar"]["0.001"], 100 * u["top1"]]
            mark = "" if val is None or held_out else " (not held out)"
            print(f"| {seed} | {label}{mark} | " + " | ".join(f"{v:.2f}" for v in cells) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


def unseen_scores(embedder, images: np.ndarray, labels: np.ndarray, misaligned: bool) -> dict:
    """{"unseen": metrics} and, with ``misaligned``, "unseen_misaligned": the same with every face but the
    enrolled first ones misaligned."""
    emb = embedder.embed(list(images))
    out = {"unseen": unseen_metrics(emb, labels)}
    if misaligned:
        out["unseen_misaligned"] = unseen_metrics(misaligned_probes(embedder, images, labels, emb), labels)
    return out


def misaligned_probes(embedder, images: np.ndarray, labels: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """``emb`` with every face but each identity's first (the enrolled one) embedded again misaligned."""
    probe = ~first_faces(labels)
    mixed = emb.copy()
    mixed[probe] = embedder.embed(list(misalign(images[probe])))
    return mixed


def validation_digest(val) -> str:
    """What tells two runs' validations apart: their faces, identities and pairs (sha256)."""
    import hashlib

    h = hashlib.sha256()
    for part in (np.stack(val[1]), *val[2:]):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    main()
