"""The work cache of an interrupted `lrface prepare`: ``<out>/.work/run.json`` (what the work is for)
and atomic chunk files; a damaged or missing chunk is redone."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from lrface.fileio import atomic_write, atomic_write_json

from .options import PrepareConfig
from .readers import Item


def work_fingerprint(items: list[Item], cfg: PrepareConfig, kind: str, root: str) -> str:
    """What the work is for: the per-item options, the inputs and where they come from."""
    h = hashlib.sha1(json.dumps({"cfg": cfg.processing(), "kind": kind, "root": root}, sort_keys=True).encode())
    for it in items:
        pts = None if it.points is None else np.round(it.points, 3).tolist()
        h.update(json.dumps([it.key, str(it.path), it.box, pts, it.status]).encode())
    return h.hexdigest()


def open_work(work: Path, fingerprint: str, log) -> None:
    """Keep ``work`` when it holds work for ``fingerprint``; otherwise start it afresh."""
    try:
        previous = json.loads((work / "run.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    if previous != fingerprint:
        if work.exists():
            if previous is not None:
                log(f"{work}: cached work is from other inputs or options; starting over")
            shutil.rmtree(work)
        atomic_write_json(work / "run.json", {"lrface_work": 1, "fingerprint": fingerprint})


def save_chunk(path: Path, low, statuses, dupkeys, preview_idx, preview_crops) -> None:
    """One finished chunk, written atomically (a killed run leaves it whole or absent)."""

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(
                fh,
                low=low,
                meta=np.array(json.dumps({"status": statuses, "dup": dupkeys})),
                preview_idx=np.asarray(preview_idx, np.int64),
                preview=np.asarray(preview_crops, np.uint8),
            )

    atomic_write(path, write)


def load_chunk(path: Path, n: int, size: int):
    """A finished work chunk of ``n`` items, or None when it is missing or damaged (then it is redone)."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            low, status, dup, pidx, preview = z["low"], meta["status"], meta["dup"], z["preview_idx"], z["preview"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError):
        return None
    if (
        low.shape != (n, size, size, 3)
        or len(status) != n
        or len(dup) != n
        or len(pidx) != len(preview)
        or any(not 0 <= j < n for j in pidx.tolist())
    ):
        return None
    return low, status, dup, pidx, preview
