"""Turn ``config.data`` into in-memory uint8 arrays: packed sets, identity folders, CIFAR, Tiny-ImageNet."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import UserError
from ..fileio import cache_dir
from ..imageio import BadImage, read_image
from ..inference.folders import scan_identity_folder
from ..preprocess import resize_uint8
from .exclude import drop_excluded, excluded_names, source_paths
from .hr_table import HrTable
from .native import check_native_size, refuse_folder, resize_eval_splits
from .packed import check_face_found, is_packed_set, read_packed_set
from .splits import few_sample_subset, per_class_split

Split = tuple[np.ndarray, np.ndarray]


@dataclass
class DataBundle:
    class_names: list[str]
    splits: dict[str, Split] = field(default_factory=dict)  # train, optional val, test
    source: str = ""
    hr: HrTable = field(default_factory=HrTable)  # HR-teacher descriptors of packed sets that have them
    held_names: list[str] = field(default_factory=list)  # the open-set validation's identities (val_open)
    unlabeled: np.ndarray | None = None  # embed_kd.unlabeled's faces (data/unlabeled.py)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_identity_folder(
    root: Path, size: int, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Read and resize every image once: (images, labels, class names, each image's file name, for
    data.merge=name's duplicate check). Cached, keyed on the file list, sizes and mtimes and the decoder's
    version (a cache of images decoded another way is never reused)."""
    from ..imageio import DECODE_VERSION

    items = [(ident, f) for ident, files in scan_identity_folder(root).items() for f in files]
    key = hashlib.sha256(f"{root.resolve()}|{size}|decode={DECODE_VERSION}".encode())
    for _, f in items:
        st = f.stat()
        key.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}".encode())
    cache = cache_dir() / "folders" / f"{key.hexdigest()[:24]}.npz"
    if use_cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["images"], z["labels"], [str(n) for n in z["class_names"]], [str(n) for n in z["files"]]
    class_names = sorted({ident for ident, _ in items})
    index = {n: i for i, n in enumerate(class_names)}
    images, labels, names, bad = [], [], [], []
    for ident, f in items:
        try:
            images.append(resize_uint8(read_image(f), size))
            labels.append(index[ident])
            names.append(f.name)
        except BadImage as e:
            bad.append(str(e))
    if bad and not images:
        raise UserError(f"{root}: none of its {len(bad)} images could be read; replace them or remove the folder")
    for why in bad:
        print(f"lrface: skipping {why}", file=sys.stderr)
    if bad:
        print(f"lrface: skipped {len(bad)} unreadable image(s) under {root}", file=sys.stderr)
    images, labels = np.stack(images), np.asarray(labels, dtype=np.int64)
    if use_cache:
        from ..fileio import atomic_write

        atomic_write(
            cache,
            lambda p: np.savez(
                open(p, "wb"),
                images=images,
                labels=labels,
                class_names=np.asarray(class_names),
                files=np.asarray(names),
            ),
        )
    return images, labels, class_names, names


def _drop_small_classes(images, labels, class_names, min_per_class):
    counts = np.bincount(labels, minlength=len(class_names))
    keep_cls = np.flatnonzero(counts >= min_per_class)
    if len(keep_cls) < len(class_names):
        print(
            f"lrface: dropping {len(class_names) - len(keep_cls)} identities with fewer than "
            f"{min_per_class} images (data.min_per_class)",
            file=sys.stderr,
        )
    remap = -np.ones(len(class_names), dtype=np.int64)
    remap[keep_cls] = np.arange(len(keep_cls))
    mask = remap[labels] >= 0
    return images[mask], remap[labels[mask]], [class_names[i] for i in keep_cls]


def load_data(cfg: Config) -> DataBundle:
    """Read the configured data and produce train / (val) / test splits, seeded."""
    d = cfg.data
    if not d.path:
        raise UserError("no data given: pass --data PATH (a packed set or an identity folder) or set LRFACE_DATA")
    path = d.path[0] if isinstance(d.path, list) and len(d.path) == 1 else d.path
    root = Path(path).expanduser() if isinstance(path, str) else None
    kind = d.kind
    exclude = source_paths(d.exclude)
    if exclude and kind in ("cifar10", "cifar100", "tiny-imagenet"):
        raise UserError(f"data.exclude applies to face identities, not to {kind}; remove data.exclude")
    names = excluded_names(exclude)  # checked before the training data is read
    native = cfg.augment.degrade  # keep the training split at the packed sets' own size (data/native.py)
    if native and kind in ("cifar10", "cifar100", "tiny-imagenet"):
        raise UserError(f"augment.degrade applies to packed face sets, not to {kind}; set augment.degrade=false")
    if kind in ("cifar10", "cifar100", "tiny-imagenet"):
        from .classification import load_classification

        splits, class_names = load_classification(kind, root, d)
        bundle = DataBundle(class_names, dict(splits), f"{kind}:{root}")
    elif root is None:
        from .multi import load_sources

        images, labels, class_names, origin = load_sources(
            path, d.image_size, d.merge, d.cache, native, d.allow_no_face
        )
        kept, class_names = drop_excluded(
            {"all": (images, labels, origin)}, class_names, exclude, names, prefixed=d.merge == "source"
        )
        images, labels, origin = kept["all"]
        hr = HrTable()
        for p in path:
            if is_packed_set(Path(p).expanduser()):
                add_hr(hr, read_packed_set(Path(p).expanduser()), None if native else d.image_size)
        splits, held, held_names = {"all": (images, labels)}, None, []
        if d.val_source is not None and d.val_identities > 0:
            from .multi import hold_out_from_source

            splits, class_names, held, held_names = hold_out_from_source(
                images, labels, origin, class_names, d.val_source, d.val_identities, cfg.train.seed
            )
        source = f"sources:{','.join(map(str, path))}"
        bundle = _split_faces(splits, class_names, cfg, source, hr, held, held_names)
    else:
        if not root.exists():
            raise UserError(f"data path {root} does not exist; pass a packed set or an identity folder")
        if kind == "auto":
            kind = "packed" if is_packed_set(root) else "folder"
        if kind == "packed":
            ps = read_packed_set(root, mmap=False)
            check_face_found(ps, d.allow_no_face)
            class_names, splits = (
                ps.class_names,
                {k: (np.asarray(v[0]), np.asarray(v[1])) for k, v in ps.splits.items()},
            )
            if native:
                check_native_size(root, ps.image_size, d.image_size)
            elif ps.image_size != d.image_size:
                splits = {k: (resize_uint8(im, d.image_size), lb) for k, (im, lb) in splits.items()}
            hr = add_hr(HrTable(), ps, None if native else d.image_size)
        else:
            hr = HrTable()
            if not root.is_dir():
                raise UserError(f"data path {root} is neither a packed set nor an identity folder")
            if native:
                refuse_folder(root)
            images, labels, class_names, _ = load_identity_folder(root, d.image_size, d.cache)
            splits = {"all": (images, labels)}
        splits, class_names = drop_excluded(splits, class_names, exclude, names)
        bundle = _split_faces(splits, class_names, cfg, f"{kind}:{root}", hr)
    if cfg.embed_kd.unlabeled:
        from .unlabeled import load_unlabeled

        bundle.unlabeled = load_unlabeled(
            source_paths(cfg.embed_kd.unlabeled, "embed_kd.unlabeled"),
            d.image_size,
            set(bundle.held_names),
            names,
            prefixed=root is None and d.merge == "source",
            cache=d.cache,
            allow_no_face=d.allow_no_face,
        )
    return _finish(bundle, cfg)


def add_hr(table: HrTable, ps, size: int | None) -> HrTable:
    """Add a packed set's HR-teacher descriptors (if any), keyed on its images as the training split
    holds them: at ``size``, or at the set's own size where ``size`` is None (augment.degrade)."""
    for k, emb in ps.hr.items():
        images = np.asarray(ps.splits[k][0])
        table.add(
            images if size is None or ps.image_size == size else resize_uint8(images, size),
            np.asarray(emb),
            ps.manifest["hr_teacher"].get("name", ""),
        )
    return table


def _split_faces(
    splits: dict[str, Split],
    class_names: list[str],
    cfg: Config,
    source: str,
    hr: HrTable | None = None,
    held: Split | None = None,
    held_names: list[str] = (),
) -> DataBundle:
    """Hold out open-set identities (data.val_identities; ``held`` where already taken out), then a
    per-identity train/test split where the set has a single split."""
    d = cfg.data
    if d.val_identities > 0 and held is None:
        from .multi import hold_out_identities

        splits, class_names, held, held_names = hold_out_identities(
            splits, class_names, d.val_identities, cfg.train.seed
        )
    if "train" not in splits:
        if len(splits) != 1:
            raise UserError(f"{source}: expected splits train/test or a single split, found {sorted(splits)}")
        images, labels = next(iter(splits.values()))
        images, labels, class_names = _drop_small_classes(images, labels, class_names, d.min_per_class)
        if len(class_names) < 2:
            raise UserError(
                f"{source}: needs at least 2 identities with {d.min_per_class}+ images each, "
                f"found {len(class_names)}; add identities"
            )
        tr, te = per_class_split(labels, d.test_fraction, cfg.train.seed)
        splits = {"train": (images[tr], labels[tr]), "test": (images[te], labels[te])}
    if held is not None:
        splits["val_open"] = held
    return DataBundle(class_names, splits, source, hr or HrTable(), list(held_names))


def _finish(bundle: DataBundle, cfg: Config) -> DataBundle:
    d = cfg.data
    if bundle.num_classes < 2:
        raise UserError(f"{bundle.source}: needs at least 2 classes, found {bundle.num_classes}")
    images, labels = bundle.splits["train"]
    if d.val_fraction > 0:
        tr, va = per_class_split(labels, d.val_fraction, cfg.train.seed + 1)
        bundle.splits["val"] = (images[va], labels[va])
        images, labels = images[tr], labels[tr]
    if d.fraction < 1:
        keep = few_sample_subset(labels, d.fraction, cfg.train.seed)
        images, labels = images[keep], labels[keep]
    bundle.splits["train"] = (images, labels)
    if len(labels) == 0:
        raise UserError(f"{bundle.source}: the training split is empty")
    if "val" not in bundle.splits and "test" not in bundle.splits:  # a packed set whose split held nothing out
        if "val_open" not in bundle.splits:  # each epoch is scored on val, else test (Trainer.fit)
            raise UserError(
                f"{bundle.source}: no test images to score each epoch on (an identity with a single image "
                "cannot be tested, so none were held out); give identities 2+ images and prepare the set again"
            )
        bundle.splits["test"] = (images[:0], labels[:0])  # scored on the held-out identities instead
    if cfg.augment.degrade:
        bundle.splits = resize_eval_splits(bundle.splits, d.image_size)
    return bundle


def run_validation(run_dir: str | Path) -> tuple[Config, np.ndarray, np.ndarray]:
    """(config, images, labels) of a training run's open-set validation: the identities its ``config.yaml``
    held out of training (``data.val_identities``), rebuilt as the trainer drew them."""
    from ..config import config_from_dict, read_yaml_mapping

    cfg = config_from_dict(read_yaml_mapping(Path(run_dir) / "config.yaml", "the run"))
    bundle = load_data(cfg)
    if "val_open" not in bundle.splits:
        raise UserError(f"{run_dir}: its config holds no identities out of training (data.val_identities)")
    images, labels = bundle.splits["val_open"]
    return cfg, np.asarray(images), np.asarray(labels)
