"""CIFAR-10 / CIFAR-100 from their official python-pickle archives under a local root.

``ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``ROOT/cifar-100-python/{train, test, meta}`` (fine labels). ``download=True`` fetches them with
torchvision's own CIFAR10/CIFAR100 classes first. The pickles are read with an unpickler that
only admits NumPy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import UserError
from .subsets import Splits, apply_variants

LAYOUTS = {
    # kind: (folder, train files, test files, label key, meta file, names key, torchvision class)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
        "batches.meta",
        "label_names",
        "CIFAR10",
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", "meta", "fine_label_names", "CIFAR100"),
}
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
    (pkg + mod, name)
    for pkg in ("numpy.core.", "numpy._core.")
    for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.split(".", 2)[2]  # NumPy 2 moved numpy.core
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: not a CIFAR python pickle ({e}); re-download the archive") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _key(d: dict, key: str, path: Path):
    if key not in d:
        raise UserError(f"{path}: no {key!r} entry (has {', '.join(map(str, d))}); is this the right archive?")
    return d[key]


def _read_split(folder: Path, files: list[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in files:
        d = _read_pickle(folder / name)
        data = np.asarray(_key(d, "data", folder / name), dtype=np.uint8)
        lab = np.asarray(_key(d, label_key, folder / name), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(lab):
            raise UserError(f"{folder / name}: expected N x 3072 data and N labels, got {data.shape} and {lab.shape}")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # channel-major rows -> H x W x RGB
        labels.append(lab)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def _download(root: Path, kind: str, tv_class: str) -> None:
    try:
        from torchvision import datasets
    except ImportError:
        raise UserError("data.download needs torchvision; install it or unpack the archive yourself") from None
    try:
        for train in (True, False):
            getattr(datasets, tv_class)(str(root), train=train, download=True)
    except (OSError, RuntimeError) as e:
        raise UserError(
            f"downloading {kind} into {root} failed ({e}); fetch it by hand and pass its parent as the root"
        ) from None


def load_cifar(
    root: str | Path, kind: str = "cifar100", download: bool = False, low_res: int | None = None
) -> tuple[Splits, list[str]]:
    """``({"train": (uint8 N x 32 x 32 x 3, int64 N), "test": ...}, class_names)`` for cifar10 or cifar100.

    ``root`` is the folder holding the archive folder (or the archive folder itself); ``low_res``
    downsamples every split to that side (Fig. 6: 16).
    """
    if kind not in LAYOUTS:
        raise UserError(f"unknown CIFAR kind {kind!r}; choose cifar10 or cifar100")
    folder_name, train_files, test_files, label_key, meta_file, names_key, tv_class = LAYOUTS[kind]
    root = Path(root).expanduser()
    if download:
        _download(root, kind, tv_class)
    folder = root if root.name == folder_name else root / folder_name
    for name in train_files + test_files + [meta_file]:
        if not (folder / name).is_file():
            raise UserError(
                f"no {folder_name}/{name} under {root}; download the python version of {kind} "
                f"from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there, "
                "or pass --set data.download=true"
            )
    meta = _read_pickle(folder / meta_file)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in _key(meta, names_key, folder / meta_file)]
    splits = {"train": _read_split(folder, train_files, label_key), "test": _read_split(folder, test_files, label_key)}
    for split, (_, labels) in splits.items():
        if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
            raise UserError(f"{folder}: {split} labels outside 0..{len(names) - 1} of {meta_file}")
    return apply_variants(splits, low_res), names
