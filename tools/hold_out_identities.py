"""Split a broad packed set by identity: a training part and a held-out validation part no model trains on.

A broad source (celeba-aligned: thousands of people, ~2 faces each) serves two ends: more people to train
on and the unseen-people validation (``tools/compare_runs.py --unseen``). This keeps both honest: among the
identities with two faces or more that none of the ``--exclude`` sets (the other training sources) holds,
a seeded ``--hold-out`` fraction goes to VAL_OUT; everything else (those sources' people, one-face people,
the rest) goes to TRAIN_OUT. Both are packed sets with the source's class names restricted to theirs; the
split depends only on the names and ``--seed``.

    python tools/hold_out_identities.py ../data/celeba-aligned16 --exclude ../data/celeba-wild16 \
        ../data/celeba-deep16 ../data/celeba-wild-extra16 --hold-out 0.5 --seed 0 \
        --train-out ../data/celeba-aligned16-train --val-out ../data/celeba-aligned16-val
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import numpy as np
from compare_runs import unseen_set

from lrface.data.packed import read_packed_set, write_packed_set
from lrface.errors import UserError


def split_names(packed: Path, names: list[str], exclude: list[Path], fraction: float, seed: int) -> set[str]:
    """The held-out identity names: a seeded ``fraction`` of the people compare_runs.py's unseen-people
    validation would score (``unseen_set``: >= 2 faces, in no EXCLUDE set)."""
    candidates = sorted({names[c] for c in np.unique(unseen_set(packed, exclude)[1])})
    order = np.random.default_rng(seed).permutation(len(candidates))
    return {candidates[i] for i in order[: round(fraction * len(candidates))]}


def subset(ps, keep_names: set[str], out: Path, note: str) -> tuple[int, int]:
    """Write the identities ``keep_names`` of packed set ``ps`` to ``out``; (identities, faces)."""
    names = ps.class_names
    old = [i for i, n in enumerate(names) if n in keep_names]
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[old] = np.arange(len(old))
    with open(ps.root / "items.csv", newline="", encoding="utf-8") as fh:
        items = list(csv.DictReader(fh))
    splits, kept_items = {}, []
    for split, (images, labels) in ps.splits.items():
        labels = np.asarray(labels)
        mask = remap[labels] >= 0
        splits[split] = (np.asarray(images)[mask], remap[labels[mask]])
        rows = sorted((r for r in items if r["split"] == split), key=lambda r: int(r["index"]))
        if [int(r["label"]) for r in rows] != labels.tolist():
            raise UserError(f"{ps.root}: items.csv disagrees with {split}/labels.npy; re-run `lrface prepare`")
        for new_index, r in enumerate(r for r, m in zip(rows, mask, strict=True) if m):
            kept_items.append({**r, "index": new_index, "label": int(remap[int(r["label"])])})
    params = {**ps.manifest.get("params", {}), "identity_subset": note}
    write_packed_set(out, splits, [names[i] for i in old], kept_items, params, ps.manifest.get("source", ""))
    return len(old), sum(len(lab) for _, lab in splits.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packed", type=Path)
    ap.add_argument("--exclude", type=Path, nargs="*", default=[], help="packed sets whose people are seen")
    ap.add_argument("--hold-out", type=float, default=0.5, help="fraction of the unseen multi-face people")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-out", type=Path, required=True)
    ap.add_argument("--val-out", type=Path, required=True)
    a = ap.parse_args(argv)
    try:
        if not 0 < a.hold_out < 1:
            raise UserError(f"--hold-out {a.hold_out} must be a fraction between 0 and 1")
        for out in (a.train_out, a.val_out):
            if out.exists():
                raise UserError(f"{out} exists; pass a new folder for the split")
            shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)  # a split cut short before
        ps = read_packed_set(a.packed)
        held = split_names(a.packed, ps.class_names, a.exclude, a.hold_out, a.seed)
        note = f"hold-out {a.hold_out} seed {a.seed} of the multi-face people outside {[p.name for p in a.exclude]}"
        partial = [out.with_name(out.name + ".partial") for out in (a.val_out, a.train_out)]
        vi, vf = subset(ps, held, partial[0], "validation part: " + note)
        ti, tf = subset(ps, set(ps.class_names) - held, partial[1], "training part: " + note)
        for tmp, out in zip(partial, (a.val_out, a.train_out), strict=True):
            tmp.rename(out)  # both parts appear only once both are complete
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"train: {ti} identities, {tf} faces -> {a.train_out}\nval:   {vi} identities, {vf} faces -> {a.val_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
