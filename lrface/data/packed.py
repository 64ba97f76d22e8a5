"""The packed set contract (docs/formats.md, docs/design/architecture.md): manifest.json, items.csv, <split>/{images,labels}.npy.

Torch-free. Writers put every file in place atomically and write manifest.json last, so a set
without a manifest (or with counts that disagree) is never mistaken for a complete one.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write, atomic_write_json, atomic_write_text

FORMAT = "lrface-packed/1"
ITEM_COLUMNS = ("split", "index", "label", "identity", "source", "status")
HR_FILE = "hr_embeddings.npy"  # optional: float32 N x d_hr, L2-normalised, when manifest has hr_teacher


@dataclass
class PackedSet:
    root: Path
    manifest: dict
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    hr: dict[str, np.ndarray] = field(default_factory=dict)  # split -> HR-teacher descriptors (optional)

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])


def is_packed_set(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()


def write_packed_set(
    out: str | Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    class_names: list[str],
    items: list[dict],
    params: dict | None = None,
    source: str = "",
) -> Path:
    """Write a packed set; ``splits`` maps split name -> (uint8 N x H x W x 3, int64 N)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # the set is incomplete until the manifest is back
    size = None
    counts = {}
    for name, (images, labels) in splits.items():
        images = np.ascontiguousarray(images, dtype=np.uint8)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"split {name}: images must be N x S x S x 3, got {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"split {name}: {len(images)} images but {len(labels)} labels")
        size = images.shape[1] if size is None else size
        if images.shape[1] != size:
            raise ValueError("all splits must share one image size")
        atomic_write(out / name / "images.npy", lambda p, a=images: save_npy(p, a))
        atomic_write(out / name / "labels.npy", lambda p, a=labels: save_npy(p, a))
        counts[name] = int(len(labels))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ITEM_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(items)
    atomic_write_text(out / "items.csv", buf.getvalue())
    atomic_write_json(
        out / "manifest.json",
        {
            "format": FORMAT,
            "image_size": int(size or 0),
            "channel_order": "RGB",
            "class_names": list(class_names),
            "splits": counts,
            "params": params or {},
            "source": str(source),
        },
    )
    return out


def save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, arr)


def read_packed_set(root: str | Path, mmap: bool = True) -> PackedSet:
    """Load a packed set, checking that every file is there and that the counts agree."""
    root = Path(root)
    mpath = root / "manifest.json"
    if not root.exists():
        raise UserError(f"{root}: no such directory; pass a packed set made by `lrface prepare`")
    if not mpath.is_file():
        raise UserError(f"{root}: no manifest.json, so not a (complete) packed set; re-run `lrface prepare`")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{mpath}: unreadable manifest ({e}); re-run `lrface prepare`") from None
    missing = [k for k in ("format", "image_size", "class_names", "splits") if k not in manifest]
    if missing or manifest.get("format") != FORMAT:
        raise UserError(f"{mpath}: not an {FORMAT} manifest (missing {missing or 'format'}); re-run `lrface prepare`")
    ps = PackedSet(root=root, manifest=manifest)
    n_classes = len(manifest["class_names"])
    for name, count in manifest["splits"].items():
        try:
            images = np.load(root / name / "images.npy", mmap_mode="r" if mmap else None)
            labels = np.load(root / name / "labels.npy", mmap_mode="r" if mmap else None)
        except (OSError, ValueError, EOFError) as e:
            raise UserError(
                f"{root / name}: missing or truncated images.npy/labels.npy ({e}); re-run `lrface prepare`"
            ) from None
        if len(images) != count or len(labels) != count or images.dtype != np.uint8 or images.ndim != 4:
            raise UserError(
                f"{root / name}: arrays disagree with manifest.json (expected {count} uint8 images); re-run `lrface prepare`"
            )
        if count and (labels.min() < 0 or labels.max() >= n_classes):
            raise UserError(f"{root / name}: labels outside 0..{n_classes - 1}; re-run `lrface prepare`")
        ps.splits[name] = (images, labels)
        if manifest.get("hr_teacher"):
            ps.hr[name] = _read_hr(root / name / HR_FILE, count, int(manifest["hr_teacher"].get("dim", 0)), mmap)
    return ps


def _read_hr(path: Path, count: int, dim: int, mmap: bool) -> np.ndarray:
    try:
        hr = np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: missing or truncated ({e}); re-run `lrface prepare ... --hr-teacher dlib`") from None
    if hr.shape != (count, dim) or hr.dtype != np.float32:
        raise UserError(
            f"{path}: expected float32 {count} x {dim} as manifest.json says, found {hr.dtype} "
            f"{hr.shape}; re-run `lrface prepare ... --hr-teacher dlib`"
        )
    return hr


def no_face_warning(source: str, n: int) -> str:
    """The one line for a source in which the detector found no face at all (every crop the box fallback)."""
    return (
        f"no face found in any image of {source}: all {n} crops are the whole image or the given box "
        "(--no-detect-fallback box); fine for images that are already face crops, otherwise check the input"
    )


def check_face_found(ps: PackedSet, allowed: bool) -> None:
    """Training on a set that `lrface prepare` made without finding one face: an error (exit 2) unless
    ``data.allow_no_face`` says the crops are faces already; then a one-line warning."""
    counts = (ps.manifest.get("params") or {}).get("status_counts") or {}
    if not counts or counts.get("aligned"):
        return
    n = counts.get("box-only", 0)
    if not allowed:
        raise UserError(
            f"no face found in any image of {ps.root} (all {n} crops are the whole image or the given box): "
            "re-prepare the photos with faces in them, or set data.allow_no_face=true if they are face crops already"
        )
    print(f"lrface: warning: {no_face_warning(str(ps.root), n)}", file=sys.stderr)
