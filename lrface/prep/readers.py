"""Dataset readers: identity folders, UMDFaces, UCCS (v3 challenge layout, and the paper's 180-subject protocol).

Each returns a list of ``Item`` in a stable order. CSVs are parsed by header name, never by position.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from lrface.errors import UserError
from lrface.inference.folders import scan_identity_folder


@dataclass
class Item:
    """One face to prepare. ``points``: 5 x 2 in template order (NaN = unknown); ``box``: x, y, w, h.
    A non-empty ``status`` (``skipped:<reason>``) means the reader already rejected it; ``split``
    is set only when the protocol fixes it."""

    key: str
    identity: str
    source: str
    path: Path | None
    box: tuple[float, float, float, float] | None = None
    points: np.ndarray | None = None
    status: str = ""
    split: str = ""


def read_csv(path: Path, required: list[str]) -> list[dict]:
    """Rows of a CSV as dicts keyed by (stripped) header; UserError naming the first missing column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise UserError(
                    f"{path}: missing required column {missing[0]!r} "
                    f"({len(missing)} missing in all); the header must name it"
                )
            return [{h: v.strip() for h, v in zip(header, row)} for row in reader if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path}: cannot read CSV ({e})") from None


def safe_path(root: Path, rel: str) -> Path | None:
    """``root / rel`` if it stays inside ``root`` (no absolute paths, no ``../`` escapes), else None."""
    rel = rel.replace("\\", "/")
    if not rel or PurePosixPath(rel).is_absolute() or ":" in PurePosixPath(rel).parts[0]:
        return None
    path = (root / rel).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def _floats(row: dict, cols: list[str]) -> list[float] | None:
    try:
        vals = [float(row[c]) for c in cols]
    except (ValueError, TypeError):
        return None
    return vals if all(math.isfinite(v) for v in vals) else None


def _check_root(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such directory; pass the dataset's root folder")
    return root


def read_folder(root: str | Path) -> list[Item]:
    """Identity folders: ``<root>/<identity>/...*.{jpg,jpeg,png,bmp,pgm,webp,gif,tif,tiff}`` (lrface's one folder scanner)."""
    root = _check_root(root)
    return [
        Item(key=rel, identity=ident, source=rel, path=f)
        for ident, files in scan_identity_folder(root).items()
        for f in files
        for rel in [f.relative_to(root).as_posix()]
    ]


# UMDFaces' 21 keypoints follow the AFLW 21-point order (1-based): 8 left-eye centre, 11 right-eye
# centre, 15 nose centre, 18 mouth left corner, 20 mouth right corner ("left" = image left); the pairs
# are re-ordered by x anyway (align.canonical_order), so a mirrored naming convention is harmless.
UMD_KEYPOINTS = (8, 11, 15, 18, 20)
UMD_BOX = ["FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"]
UMD_REQUIRED = ["FILE", *UMD_BOX] + [
    f"{c}{k}{s}" for k in UMD_KEYPOINTS for c, s in (("P", "X"), ("P", "Y"), ("VIS", ""))
]


def read_umdfaces(root: str | Path) -> list[Item]:
    """UMDFaces: ``umdfaces_batchN/umdfaces_batchN_ultraface.csv`` under ``root`` (or ``root`` is one batch)."""
    root = _check_root(root)
    csvs = sorted(root.glob("umdfaces_batch*/umdfaces_batch*_ultraface.csv")) or sorted(root.glob("*_ultraface.csv"))
    if not csvs:
        raise UserError(f"{root}: no umdfaces_batchN/umdfaces_batchN_ultraface.csv found; pass the UMDFaces root")
    items = []
    for path in csvs:
        batch = path.parent
        for row in read_csv(path, UMD_REQUIRED):
            rel = row["FILE"]
            folder = PurePosixPath(rel.replace("\\", "/")).parent.name
            item = Item(
                key=f"{batch.name}/{rel}",
                identity=folder or row.get("SUBJECT_ID", ""),
                source=f"{batch.name}/{rel}" if batch != root else rel,
                path=safe_path(batch, rel),
            )
            box = _floats(row, UMD_BOX)
            if item.path is None:
                item.status = "skipped:outside-root"
            elif box is None or box[2] <= 0 or box[3] <= 0 or not item.identity:
                item.status = "skipped:bad-annotation"
            else:
                item.box = tuple(box)
                pts = np.full((5, 2), np.nan)
                for j, k in enumerate(UMD_KEYPOINTS):
                    xy, vis = _floats(row, [f"P{k}X", f"P{k}Y"]), _floats(row, [f"VIS{k}"])
                    if xy is not None and vis is not None and vis[0] > 0.5:
                        pts[j] = xy
                item.points = pts
            items.append(item)
    if not items:
        raise UserError(f"{root}: the UMDFaces CSVs list no images")
    return sorted(items, key=lambda it: it.key)


UCCS_LANDMARKS = ["REYE", "LEYE", "NOSE", "RMOUTH", "LMOUTH"]  # subject's right eye = image left
UCCS_GALLERY = ["SUBJECT_ID", "FILE"] + [f"{p}_{a}" for p in UCCS_LANDMARKS for a in "XY"]
UCCS_VALIDATION = ["FACE_ID", "FILE", "SUBJECT_ID", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"]
PAPER_SUBJECTS, PAPER_TEST_FRACTION = 180, 907 / (3918 + 907)


def _uccs_path(root: Path, rel: str, folders: list[str]) -> Path | None:
    """Resolve FILE relative to the root or to the usual image folders; None if it escapes the root."""
    first = safe_path(root, rel)
    if first is None:
        return None
    for folder in folders:
        cand = safe_path(root / folder, rel)
        if cand is None:
            return None
        if cand.is_file():
            return cand
    return first


def _subject(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None


def read_uccs(
    root: str | Path,
    protocol: str | None = None,
    seed: int = 0,
    n_subjects: int = PAPER_SUBJECTS,
    test_fraction: float = PAPER_TEST_FRACTION,
) -> list[Item]:
    """UCCS v3: ``gallery.csv`` (landmarks) and/or ``validation.csv`` (boxes, SUBJECT_ID <= 0 unknown),
    ``exclude_gallery_validation.txt`` optional. ``protocol="paper-180"``: a seeded subset of
    ``n_subjects`` known validation subjects, each one's faces split into train/test."""
    root = _check_root(root)
    gal, val = root / "gallery.csv", root / "validation.csv"
    if not gal.is_file() and not val.is_file():
        raise UserError(f"{root}: neither gallery.csv nor validation.csv found; pass the UCCS root")
    excl_file = root / "exclude_gallery_validation.txt"
    excluded = set(excl_file.read_text(encoding="utf-8").split()) if excl_file.is_file() else set()
    items = []
    if gal.is_file() and protocol is None:
        for row in read_csv(gal, UCCS_GALLERY):
            sid, rel = _subject(row["SUBJECT_ID"]), row["FILE"]
            item = Item(
                key=f"gallery/{rel}",
                identity=f"{sid:04d}" if sid is not None else "",
                source=rel,
                path=_uccs_path(root, rel, ["gallery_images", f"gallery_images/{sid or 0:04d}"]),
            )
            pts = _floats(row, [f"{p}_{a}" for p in UCCS_LANDMARKS for a in "XY"])
            if item.path is None:
                item.status = "skipped:outside-root"
            elif sid is None or sid <= 0 or pts is None:
                item.status = "skipped:bad-annotation"
            else:
                item.points = np.asarray(pts, dtype=np.float64).reshape(5, 2)
            items.append(item)
    if val.is_file():
        for row in read_csv(val, UCCS_VALIDATION):
            sid, rel, fid = _subject(row["SUBJECT_ID"]), row["FILE"], row["FACE_ID"]
            item = Item(
                key=f"validation/{fid}",
                identity=f"{sid:04d}" if sid is not None and sid > 0 else "",
                source=f"{rel}#{fid}",
                path=_uccs_path(root, rel, ["validation_images", "validation"]),
            )
            box = _floats(row, UCCS_VALIDATION[3:])
            if item.path is None:
                item.status = "skipped:outside-root"
            elif fid in excluded:
                item.status = "skipped:excluded"
            elif sid is None or sid <= 0:
                item.status = "skipped:unknown-subject"
            elif box is None or box[2] <= 0 or box[3] <= 0:
                item.status = "skipped:bad-annotation"
            else:
                item.box = tuple(box)
            items.append(item)
    if protocol == "paper-180":
        items = _paper_protocol(items, seed, n_subjects, test_fraction)
    elif protocol is not None:
        raise UserError(f"unknown UCCS protocol {protocol!r}; the one defined is paper-180")
    if not items:
        raise UserError(f"{root}: the UCCS CSVs list no faces")
    return items


def _paper_protocol(items: list[Item], seed: int, n_subjects: int, test_fraction: float) -> list[Item]:
    """Keep ``n_subjects`` seeded-random known subjects (2+ faces); split each one's faces train/test."""
    by_subject: dict[str, list[Item]] = {}
    for it in items:
        if not it.status:
            by_subject.setdefault(it.identity, []).append(it)
    eligible = sorted(s for s, faces in by_subject.items() if len(faces) >= 2)
    if len(eligible) < n_subjects:
        raise UserError(
            f"protocol paper-180 needs {n_subjects} known subjects with 2+ faces in validation.csv; "
            f"found {len(eligible)}"
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(eligible, size=n_subjects, replace=False).tolist())
    out = []
    for s in chosen:
        faces = sorted(by_subject[s], key=lambda it: it.key)
        order = rng.permutation(len(faces))
        n_test = min(len(faces) - 1, max(1, round(len(faces) * test_fraction)))
        for rank, i in enumerate(order):
            faces[i].split = "test" if rank < n_test else "train"
        out.extend(faces)
    return out
