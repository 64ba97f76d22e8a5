"""Add HR-teacher descriptors to a finished packed set: ``<split>/hr_embeddings.npy`` + ``manifest.hr_teacher``.

Runs after `lrface prepare` (or alone on a set prepared without ``--hr-teacher``): every kept item of
items.csv is re-located in its full-resolution source exactly as prepare located it (same detector,
same choice of face), and the teacher describes that face. Work is cached in ``<out>/.work-hr/`` in
atomic chunks, so a killed pass resumes where it stopped; the manifest gains ``hr_teacher`` last.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lrface.data.packed import HR_FILE, read_packed_set, save_npy
from lrface.errors import UserError
from lrface.fileio import atomic_write, atomic_write_json

from .align import similarity_matrix, usable_points
from .hr_teacher import build_teacher, face_rect
from .readers import Item

WORK_DIR = ".work-hr"
KEPT = ("aligned", "box-only")


def has_hr(out: Path, name: str) -> bool:
    """Whether the packed set ``out`` already holds complete descriptors of teacher ``name``."""
    ps = read_packed_set(out)
    entry = ps.manifest.get("hr_teacher") or {}
    return entry.get("name") == name and all(s in ps.hr for s in ps.splits)


def _rows(out: Path, items: list[Item]) -> list[dict]:
    with open(out / "items.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != len(items) or any(r["source"] != it.source for r, it in zip(rows, items)):
        raise UserError(
            f"{out}/items.csv does not list the images under the given root in order; run the same "
            "`lrface prepare` command that made the set (same root and options)"
        )
    return rows


def add_hr_embeddings(
    out: str | Path, items: list[Item], cfg, teacher_name: str, progress: bool | None = None, log=print
) -> str:
    """Compute what is missing and write it; returns a one-line summary with the rate (faces/s)."""
    from tqdm import tqdm

    out = Path(out)
    teacher = build_teacher(teacher_name)
    if has_hr(out, teacher.name):
        return f"{out}: HR embeddings ({teacher.name}) already present; nothing to do"
    rows = _rows(out, items)
    work = out / WORK_DIR
    fp = hashlib.sha1(
        json.dumps([teacher.name, cfg.processing(), [r["source"] for r in rows], [r["status"] for r in rows]]).encode()
    ).hexdigest()
    try:
        previous = json.loads((work / "run.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    if previous != fp:
        shutil.rmtree(work, ignore_errors=True)
        atomic_write_json(work / "run.json", {"lrface_hr_work": 1, "fingerprint": fp})
    kept = np.array([r["status"] in KEPT for r in rows])
    emb = np.full((len(rows), teacher.dim), np.nan, np.float32)
    locator, done, seconds = None, 0, 0.0
    bar = tqdm(
        total=int(kept.sum()),
        unit="face",
        desc="hr-teacher",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=(not progress) if progress is not None else None,
    )
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        for c in range(0, len(rows), cfg.chunk_size):
            path = work / f"chunk_{c // cfg.chunk_size:05d}.npy"
            sel = np.flatnonzero(kept[c : c + cfg.chunk_size]) + c
            cached = _load(path, len(sel), teacher.dim)
            if cached is None:
                locator = locator or _Locator(cfg)
                t0 = time.perf_counter()
                cached = _describe(teacher, locator, pool, [items[i] for i in sel], bar)
                seconds += time.perf_counter() - t0
                done += len(sel)
                atomic_write(path, lambda p, a=cached: save_npy(p, a))
            else:
                bar.update(len(sel))
            emb[sel] = cached
    bar.close()
    _write(out, rows, emb, teacher.manifest_entry())
    shutil.rmtree(work, ignore_errors=True)
    rate = f"{done / seconds:.1f} faces/s" if seconds else "all resumed"
    return (
        f"HR embeddings ({teacher.name}, {teacher.dim}-d): {int(kept.sum())} faces, computed {done}, "
        f"resumed {int(kept.sum()) - done}; {rate} (detect + align + describe, one process); wrote {out}"
    )


def _load(path: Path, n: int, dim: int) -> np.ndarray | None:
    try:
        a = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    return a if a.shape == (n, dim) and np.isfinite(a).all() else None


class _Locator:
    """Finds each item's face the way prepare did: given landmarks, else MTCNN, else the box."""

    def __init__(self, cfg):
        from .detect import FaceDetector

        self.cfg, self.detector = cfg, FaceDetector(batch_size=cfg.batch_size)

    def rects(self, items: list[Item], images: list[np.ndarray]) -> list[tuple]:
        from .locate import locate

        out: list = [None] * len(items)
        ask = []
        for i, (it, _im) in enumerate(zip(items, images)):
            if usable_points(it.points):
                try:
                    out[i] = face_rect(similarity_matrix(it.points, self.cfg.work_size), self.cfg.work_size)
                    continue
                except ValueError:
                    pass
            ask.append(i)
        found = locate(self.detector, [images[i] for i in ask], [items[i].box for i in ask], self.cfg)
        for i, (matrix, _) in zip(ask, found):
            h, w = images[i].shape[:2]
            out[i] = (0, 0, w, h) if matrix is None else face_rect(matrix, self.cfg.work_size)
        return out


def _describe(teacher, locator: _Locator, pool, items: list[Item], bar) -> np.ndarray:
    from lrface.imageio import BadImage, read_image

    def load(it: Item):
        try:
            return read_image(it.path)
        except (BadImage, OSError) as e:
            raise UserError(
                f"{it.path}: unreadable now ({e}), though prepare kept it; re-run `lrface prepare`"
            ) from None

    out = np.zeros((len(items), teacher.dim), np.float32)
    bs = locator.cfg.batch_size
    for s in range(0, len(items), bs):
        batch = items[s : s + bs]
        images = list(pool.map(load, batch))
        for j, (im, rect) in enumerate(zip(images, locator.rects(batch, images))):
            out[s + j] = teacher.describe(im, rect)
        bar.update(len(batch))
    return out


def _write(out: Path, rows: list[dict], emb: np.ndarray, entry: dict) -> None:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for split, count in manifest["splits"].items():
        part = np.zeros((count, emb.shape[1]), np.float32)
        filled = np.zeros(count, bool)
        for i, r in enumerate(rows):
            if r["split"] == split:
                part[int(r["index"])], filled[int(r["index"])] = emb[i], True
        if not filled.all() or not np.isfinite(part).all():
            raise UserError(f"{out}: items.csv does not cover split {split!r}; re-run `lrface prepare`")
        atomic_write(out / split / HR_FILE, lambda p, a=part: save_npy(p, a))
    manifest["hr_teacher"] = entry
    atomic_write_json(out / "manifest.json", manifest)
