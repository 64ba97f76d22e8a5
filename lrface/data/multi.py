"""Many-identity training data: several sources in one label space, and whole identities held out.

``data.path`` may list several packed sets and/or identity folders. ``data.merge`` decides how
their identities meet: ``source`` (default) names each class ``<source>/<identity>`` so that equal
folder names in different sets stay different people; ``name`` merges equal identity names (sets
that share an identity namespace, e.g. CelebA's numbers; one line says how many identities were
joined) and drops an image whose identity and file name were already read from an earlier source
(the same photo prepared twice, or copied into two folders). Ambiguous lists are refused
(``check_sources``): a source listed twice, and under ``source`` two sources whose folder names are
equal (their classes would join silently as ``<name>/<identity>``); under ``name``, identity names that
differ only by case, width, spacing or Unicode form (they would stay two people).

``data.val_identities`` (a fraction < 1 or a count >= 1) takes whole identities out of training,
seeded: the open-set validation split ``val_open`` (labels local to it), scored as verification
pairs among those identities (``open_set_pairs``) every epoch. ``data.val_source`` (an index into
``data.path``) draws them among one source's identities only and validates on that source's images of
them, dropping their images elsewhere: the validation set then stays the same when sources are added,
so data choices compare on one validation.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from .packed import check_face_found, is_packed_set, read_packed_set

Split = tuple[np.ndarray, np.ndarray]


def _packed_source(root: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str], int]:
    """All splits of a packed set: images, labels, class names, file name per image, image size."""
    ps = read_packed_set(root, mmap=False)
    files: dict[tuple[str, int], str] = {}
    if (root / "items.csv").is_file():
        with open(root / "items.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r.get("split") and r.get("index", "") != "":
                    files[(r["split"], int(r["index"]))] = Path(r.get("source", "")).name
    images, labels, names = [], [], []
    for split, (im, lb) in ps.splits.items():
        images.append(np.asarray(im))
        labels.append(np.asarray(lb))
        names += [files.get((split, i), "") for i in range(len(lb))]
    return np.concatenate(images), np.concatenate(labels), ps.class_names, names, ps.image_size


def _folder_source(root: Path, size: int, cache: bool) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    from ..imageio import is_image_file
    from .sources import load_identity_folder

    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not any(f.is_file() and is_image_file(f) for f in sub.iterdir()):
            raise UserError(f"{sub}: identity folder with no images; add images or remove the folder")
    return load_identity_folder(root, size, cache)


def read_source(
    root: Path, size: int, cache: bool = True, what: str = "data path", resize: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """One packed set or identity folder: images (at ``size`` where ``resize``), labels, class names, and each
    image's file name (a packed set's source file; a folder's images are read at ``size``)."""
    from ..preprocess import resize_uint8

    if is_packed_set(root):
        images, labels, names, files, _ = _packed_source(root)
    elif root.is_dir():
        images, labels, names, files = _folder_source(root, size, cache)
    else:
        raise UserError(f"{what} {root} is neither a packed set nor an identity folder")
    if resize and images.shape[1] != size:
        images = resize_uint8(images, size)
    return images, labels, names, files


def check_sources(roots: list[Path], merge: str) -> None:
    """UserError for a data.path whose identities would meet ambiguously (see the module docstring)."""
    seen: dict[Path, Path] = {}
    named: dict[str, Path] = {}
    for r in roots:
        real = r.resolve()
        if real in seen:
            raise UserError(f"data.path lists {seen[real]} twice (also as {r}); list each source once")
        seen[real] = r
        if merge == "source" and r.name in named:
            raise UserError(
                f"data.path entries {named[r.name]} and {r} are both named {r.name!r}, so data.merge=source would "
                f"join their identities as {r.name}/<identity>; rename one folder, or set data.merge=name if "
                "equal identity names are the same people"
            )
        named[r.name] = r


def _report_joined(per_source: list[set[str]]) -> None:
    """data.merge=name: one line naming how many identities appear in more than one source (joined)."""
    counts: dict[str, int] = {}
    for names in per_source:
        for n in names:
            counts[n] = counts.get(n, 0) + 1
    joined = sorted(n for n, c in counts.items() if c > 1)
    if joined:
        print(
            f"lrface: data.merge=name joins {len(joined)} identities found in more than one source "
            f"(e.g. {', '.join(joined[:3])}) into one class each",
            file=sys.stderr,
        )


def load_sources(
    paths: list[str],
    size: int,
    merge: str = "source",
    cache: bool = True,
    native: bool = False,
    allow_no_face: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Every image of every source, labels in one merged label space (see the module docstring), and
    the index of the source each image came from. ``native`` (augment.degrade) keeps the packed sets'
    own size, which must exceed ``size``; identity folders are refused then. Every source is checked
    (sizes, a face found: ``allow_no_face``) before any is loaded."""
    from .native import check_native_size, refuse_folder

    roots = [Path(p).expanduser() for p in paths]
    if not roots:
        raise UserError("data.path is an empty list; name at least one packed set or identity folder")
    check_sources(roots, merge)
    sizes = {}
    for r in roots:
        if not r.exists():
            raise UserError(f"data path {r} does not exist; pass packed sets or identity folders")
        if is_packed_set(r):
            ps = read_packed_set(r)
            check_face_found(ps, allow_no_face)
            sizes[r] = ps.image_size
        elif native:
            refuse_folder(r)
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{r.name} {s}x{s}" for r, s in sizes.items())
        raise UserError(f"the sources have different image sizes ({listed}); prepare them at one --size")
    if native:
        for r, s in sizes.items():
            check_native_size(r, s, size)
    class_of: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    all_images, all_labels, origin, per_source = [], [], [], []
    for k, r in enumerate(roots):
        images, labels, names, files = read_source(r, size, cache, resize=not native)
        qualified = [n if merge == "name" else f"{r.name}/{n}" for n in names]
        per_source.append(set(qualified))
        keep = np.ones(len(labels), bool)
        if merge == "name":
            for i, (lb, f) in enumerate(zip(labels, files)):
                key = (qualified[lb], f)
                if f and key in seen:
                    keep[i] = False
                seen.add(key)
        remap = np.array([class_of.setdefault(q, len(class_of)) for q in qualified], np.int64)
        all_images.append(images[keep])
        all_labels.append(remap[labels[keep]])
        origin.append(np.full(int(keep.sum()), k, np.int64))
    if merge == "name":
        _refuse_near_names(class_of)
        _report_joined(per_source)
    class_names = sorted(class_of, key=class_of.get)
    return np.concatenate(all_images), np.concatenate(all_labels), class_names, np.concatenate(origin)


def _refuse_near_names(class_of: dict[str, int]) -> None:
    """data.merge=name joins exact names only: two that differ only by case, width, spacing or Unicode form (one
    source's 'Ann', another's 'ann') would stay two classes of one person, so they are refused, as in one folder."""
    from ..inference.folders import identity_keys

    twins = next((sorted(n) for n in identity_keys(class_of).values() if len(n) > 1), None)
    if twins:
        raise UserError(
            f"data.path's sources name identities {twins[0]!r} and {twins[1]!r}, which differ only by case, width, "
            "spacing or Unicode form: data.merge=name would keep them as two people; rename one to match the other"
        )


def _draw(n: int, amount: float, seed: int) -> np.ndarray:
    k = round(amount * n) if amount < 1 else int(amount)
    if not 2 <= k <= n - 2:
        raise UserError(
            f"data.val_identities {amount:g} holds out {k} of {n} identities; "
            "need at least 2 held out and 2 left to train on"
        )
    return np.sort(np.random.default_rng([seed, 0x0E5]).choice(n, k, replace=False))


def hold_out_from_source(
    images: np.ndarray, labels: np.ndarray, origin: np.ndarray, class_names: list[str], source: int, amount, seed
) -> tuple[dict[str, Split], list[str], Split, list[str]]:
    """``hold_out_identities`` drawn among source ``source``'s identities (sorted by name), validating
    on that source's images of them only; their images from other sources are dropped."""
    cand = sorted({class_names[c] for c in np.unique(labels[origin == source])})
    held_names = [cand[i] for i in _draw(len(cand), amount, seed)]
    keep = ~(np.isin(labels, [class_names.index(c) for c in held_names]) & (origin != source))
    return hold_out_identities({"all": (images[keep], labels[keep])}, class_names, 0, seed, held_names)


def hold_out_identities(
    splits: dict[str, Split], class_names: list[str], amount: float, seed: int, names: list[str] | None = None
) -> tuple[dict[str, Split], list[str], Split, list[str]]:
    """Take ``amount`` identities (fraction < 1 or count; or the given ``names``) out of every split, seeded.

    Returns the remaining splits (labels renumbered), their class names, the held-out images with
    labels local to them (``val_open``) and the held-out identity names.
    """
    n = len(class_names)
    held = _draw(n, amount, seed) if names is None else np.sort([class_names.index(c) for c in names])
    k = len(held)
    is_held = np.zeros(n, bool)
    is_held[held] = True
    new_label = -np.ones(n, np.int64)
    new_label[~is_held] = np.arange(n - k)
    local = -np.ones(n, np.int64)
    local[held] = np.arange(k)
    out, v_images, v_labels = {}, [], []
    for name, (images, labels) in splits.items():
        labels = np.asarray(labels)
        m = is_held[labels]
        out[name] = (images[~m], new_label[labels[~m]])
        v_images.append(images[m])
        v_labels.append(local[labels[m]])
    names = [c for c, h in zip(class_names, is_held) if not h]
    return out, names, (np.concatenate(v_images), np.concatenate(v_labels)), [class_names[i] for i in held]


def open_set_pairs(
    labels: np.ndarray, seed: int, n_pairs: int = 3000, folds: int = 10, per_identity: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Verification pairs among held-out identities: (index a, index b, same, fold), seeded.

    Same-person pairs: up to ``per_identity`` random pairs per identity, then at most ``n_pairs`` of
    them; as many different-person pairs, drawn uniformly; pairs dealt to ``folds`` folds at random.
    """
    rng = np.random.default_rng([seed, 0x9A1])
    labels = np.asarray(labels)
    same = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        a, b = np.triu_indices(len(idx), 1)
        pick = rng.permutation(len(a))[:per_identity]
        same += list(zip(idx[a[pick]], idx[b[pick]]))
    if not same:
        raise UserError(
            "the held-out identities have no identity with 2+ images, so no same-person pairs; "
            "raise data.val_identities"
        )
    same = [same[i] for i in rng.permutation(len(same))[:n_pairs]]
    diff = []
    while len(diff) < len(same):
        i, j = rng.integers(0, len(labels), 2)
        if labels[i] != labels[j]:
            diff.append((i, j))
    pairs = np.asarray(same + diff, np.int64)
    is_same = np.r_[np.ones(len(same), bool), np.zeros(len(diff), bool)]
    fold = rng.permutation(len(pairs)) % folds
    return pairs[:, 0], pairs[:, 1], is_same, fold
