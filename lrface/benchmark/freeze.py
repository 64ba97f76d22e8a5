"""The benchmark's frozen data: one packed train/test set (aligned from an identity folder if asked)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from ..errors import UserError


def freeze_data(source: str, out: Path, base_cfg, align: bool, log) -> Path:
    """Write the benchmark's packed train/test set to ``out`` (aligning an identity folder first).

    Identities with too few images to be tested stay in as training-only classes; an identical
    set already at ``out`` is left untouched, so that concurrent or repeated benchmarks share it.
    """
    from ..config import load_config
    from ..data.packed import is_packed_set, write_packed_set
    from ..data.sources import load_data

    src = Path(source).expanduser()
    if not src.exists():
        raise UserError(f"data {src} does not exist; pass a packed set or an identity folder")
    d = base_cfg.data
    if not is_packed_set(src) and align:
        try:
            from lrface.prep.options import PrepareConfig
            from lrface.prep.pipeline import prepare
            from lrface.prep.readers import read_folder
        except ImportError:
            raise UserError(
                "aligning an identity folder needs the [train] extra (pip install 'lrface[train]'); "
                "pass --no-align to resize whole images instead"
            ) from None
        aligned, items = out.parent / "aligned", read_folder(src)
        pcfg = PrepareConfig(size=d.image_size, seed=base_cfg.train.seed, force=True)
        if _prepared_from(aligned, src, pcfg, len(items)):
            log(f"reusing {aligned} (aligned from {src} with the same options)")
        else:
            log(f"aligning {src} with lrface.prep (MTCNN) into {aligned}")
            prepare(items, aligned, pcfg, kind="folder", root=src, log=log)
        src = aligned
    cfg = load_config(
        None,
        [f"data.path={src}", "data.kind=auto", "data.val_fraction=0", "data.min_per_class=1"],
        base=copy.deepcopy(base_cfg.to_dict()),
    )
    bundle = load_data(cfg)
    check_split_sizes(bundle, d.test_fraction, d.val_fraction, str(source))
    items = [
        {
            "split": s,
            "index": i,
            "label": int(lb),
            "identity": bundle.class_names[int(lb)],
            "source": str(src),
            "status": "ok",
        }
        for s, (_, labels) in bundle.splits.items()
        for i, lb in enumerate(labels)
    ]
    if _same_packed_set(out, bundle):
        return out
    write_packed_set(
        out,
        {s: bundle.splits[s] for s in ("train", "test")},
        bundle.class_names,
        items,
        params={"benchmark_seed": base_cfg.train.seed, "test_fraction": d.test_fraction},
        source=str(source),
    )
    return out


def _prepared_from(aligned: Path, src: Path, pcfg, n_items: int) -> bool:
    """Whether ``aligned`` is a finished lrface.prep set of the same folder, options and file count."""
    from ..data.packed import is_packed_set

    if not is_packed_set(aligned):
        return False
    m = json.loads((aligned / "manifest.json").read_text(encoding="utf-8"))
    params = m.get("params", {})
    same = all(params.get(k) == v for k, v in pcfg.processing().items())
    return same and m.get("source") == str(src.resolve()) and sum(params.get("status_counts", {}).values()) == n_items


def _same_packed_set(out: Path, bundle) -> bool:
    from ..data.packed import is_packed_set, read_packed_set

    if not is_packed_set(out):
        return False
    ps = read_packed_set(out, mmap=False)
    return (
        ps.class_names == bundle.class_names
        and set(ps.splits) == {"train", "test"}
        and all(np.array_equal(ps.splits[s][i], bundle.splits[s][i]) for s in ("train", "test") for i in (0, 1))
    )


def min_images(test_fraction: float, val_fraction: float) -> int:
    """Fewest images an identity needs for >= 1 test and >= 1 val image (if val is used) under the split."""
    n = 2
    while True:
        k = min(int(round(test_fraction * n)), n - 1)
        if k >= 1 and (val_fraction == 0 or min(int(round(val_fraction * (n - k))), n - k - 1) >= 1):
            return n
        n += 1


def check_split_sizes(bundle, test_fraction: float, val_fraction: float, source: str) -> None:
    """UserError unless two identities have train and test images and the val split is not empty."""
    from ..data.splits import per_class_split

    tr_labels = np.asarray(bundle.splits["train"][1])
    te_labels = np.asarray(bundle.splits["test"][1])
    ok = set(np.unique(tr_labels).tolist()) & set(np.unique(te_labels).tolist())
    if val_fraction > 0 and len(per_class_split(tr_labels, val_fraction, 0)[1]) == 0:
        ok = set()
    if len(ok) < 2:
        counts = np.bincount(np.concatenate([tr_labels, te_labels]))
        raise UserError(
            f"{source}: too few images per identity for the split: test_fraction {test_fraction} "
            f"and val_fraction {val_fraction} need {min_images(test_fraction, val_fraction)} images "
            f"per identity, the largest identity has {counts.max()}; add images or lower the fractions"
        )
