"""The end of `lrface prepare`: assign splits, write the packed set and its preview grid, remove the
work cache, and collect the warnings."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter

import cv2
import numpy as np

from lrface.data.packed import no_face_warning, write_packed_set
from lrface.errors import UserError
from lrface.fileio import atomic_write

from .options import KEPT, WORK_DIR, Result, min_side
from .readers import Item


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _assign_splits(items: list[Item], statuses: list[str], fraction: float, seed: int):
    """Split name per item ('' for skipped) and the identities that have a single kept image."""
    kept = [i for i, s in enumerate(statuses) if s in KEPT]
    by_id: dict[str, list[int]] = {}
    for i in kept:
        by_id.setdefault(items[i].identity, []).append(i)
    singles = sorted((k for k, v in by_id.items() if len(v) == 1), key=_natural)
    split = [""] * len(items)
    if any(items[i].split for i in kept):
        for i in kept:
            split[i] = items[i].split or "train"
    elif fraction > 0:
        for ident, idx in by_id.items():
            rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha1(ident.encode()).digest()[:4], "little")])
            n_test = min(len(idx) - 1, max(1, round(len(idx) * fraction))) if len(idx) > 1 else 0
            test = set(rng.permutation(idx)[:n_test].tolist())
            for i in idx:
                split[i] = "test" if i in test else "train"
    else:
        for i in kept:
            split[i] = "all"
    return split, singles


def _preview(crops: np.ndarray, lows: np.ndarray) -> np.ndarray:
    """Grid of (aligned crop | low-res upscaled with nearest) pairs, 4 pairs a row, RGB."""
    size, gap, per_row = crops.shape[1], 4, 4
    cells = [
        np.concatenate(
            [c, np.full((size, gap, 3), 255, np.uint8), cv2.resize(lo, (size, size), interpolation=cv2.INTER_NEAREST)],
            axis=1,
        )
        for c, lo in zip(crops, lows)
    ]
    blank = np.full_like(cells[0], 255)
    cells += [blank] * (-len(cells) % per_row)
    pad = np.full((size, gap * 3, 3), 255, np.uint8)
    rows = [
        np.concatenate(sum(([c, pad] for c in cells[r : r + per_row]), [])[:-1], axis=1)
        for r in range(0, len(cells), per_row)
    ]
    hpad = np.full((gap * 3, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate(sum(([r, hpad] for r in rows), [])[:-1], axis=0)


def finish(items, out, cfg, kind, root, lows, statuses, preview_crops, preview_lows, resumed, processed) -> Result:
    """Split the kept items, write the packed set and its preview, remove the work cache; the run's Result."""
    counts = Counter(statuses)
    if not any(s in KEPT for s in statuses):
        raise UserError(
            f"no face kept out of {len(items)} items ({', '.join(f'{k}: {n}' for k, n in sorted(counts.items()))}); "
            "check that the input holds readable images, or keep whole images with --no-detect-fallback box"
        )
    split, singles = _assign_splits(items, statuses, cfg.split_fraction, cfg.seed)
    class_names = sorted({items[i].identity for i, s in enumerate(split) if s}, key=_natural)
    label_of = {name: k for k, name in enumerate(class_names)}
    order = [n for n in ("train", "test", "all") if n in split]
    index_in: dict[int, int] = {}
    splits = {}
    for name in order:
        idx = [i for i, s in enumerate(split) if s == name]
        index_in.update({i: k for k, i in enumerate(idx)})
        splits[name] = (lows[idx], np.array([label_of[items[i].identity] for i in idx], np.int64))
    rows = [
        {
            "split": split[i],
            "index": index_in.get(i, ""),
            "label": label_of.get(it.identity, "") if split[i] else "",
            "identity": it.identity,
            "source": it.source,
            "status": statuses[i],
        }
        for i, it in enumerate(items)
    ]
    params = {
        "kind": kind,
        **cfg.processing(),
        "split_fraction": cfg.split_fraction,
        "template": "arcface-112 (data_prep.align.TEMPLATE)",
        "status_counts": dict(sorted(counts.items())),
    }
    write_packed_set(out, splits, class_names, rows, params=params, source=str(root.resolve()))
    if preview_crops:
        grid = cv2.cvtColor(_preview(np.stack(preview_crops), np.stack(preview_lows)), cv2.COLOR_RGB2BGR)
        atomic_write(out / "preview.png", lambda p: p.write_bytes(cv2.imencode(".png", grid)[1].tobytes()))
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    warnings = []
    if not counts.get("aligned"):
        warnings.append(no_face_warning(str(root), counts.get("box-only", 0)))
    if singles:
        warnings.append(
            f"{len(singles)} identities have a single image (kept; they cannot be tested): "
            f"{', '.join(singles[:10])}{' ...' if len(singles) > 10 else ''}"
        )
    if counts.get("skipped:too-small"):
        warnings.append(
            f"{counts['skipped:too-small']} images with a side under {min_side(cfg.size)} px (too small "
            "to hold a face) skipped; see items.csv"
        )
    if counts.get("skipped:duplicate"):
        warnings.append(f"{counts['skipped:duplicate']} duplicate files (same content) skipped; see items.csv")
    return Result(
        out, counts, {k: len(v[1]) for k, v in splits.items()}, len(class_names), resumed, processed, warnings
    )
