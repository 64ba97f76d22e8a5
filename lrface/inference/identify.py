"""Identification: collect probes, resolve the gallery (built and cached from a plain folder if
needed) and embed the probes (torch-free); the search and the "unknown" decision are :class:`lrface.api.Gallery`'s."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imageio import DECODE_VERSION, IMAGE_TYPES, BadImage, is_image_file
from ..pretrained import resolve_model
from .align import NO_FACE
from .embedder import Embedder
from .enrol import build_from_folder
from .folders import list_images
from .gallery import Gallery
from .gallery_store import check_pointer_not_lost, is_gallery, writer_lock

PROBE_BATCH = 256  # probes per ONNX Runtime call while the next batch decodes
CACHE_DIR_NAME = ".lrface-gallery"


def collect_probes(paths: list[str]) -> tuple[list[Path], set[Path]]:
    """Probe files from files and folders; returns (all files, those named explicitly)."""
    files, explicit = [], set()
    for p in map(Path, paths):
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise UserError(f"{p}: folder has no images ({IMAGE_TYPES})")
            files.extend(found)
        else:
            if p.exists() and not is_image_file(p):
                raise UserError(f"{p}: not an image file name (expected {IMAGE_TYPES})")
            files.append(p)
            explicit.add(p)
    return files, explicit


def embed_probes(embedder: Embedder, files: list[Path], explicit: set[Path], warn) -> tuple[list[Path], np.ndarray]:
    """Decode and embed every probe before any output: a bad file named explicitly is an error, one
    found in a folder (or any photo without a face, when aligning) is skipped with a warning.

    Each full batch is embedded in a background thread while the next one decodes (ONNX Runtime
    releases the GIL), so a folder of probes costs about max(decode, embed) rather than the sum."""
    kept, batch, pending, pool = [], [], [], None
    try:
        for f in files:
            try:
                batch.append(embedder.load(f))
                kept.append(f)
            except BadImage as e:
                if f in explicit and e.reason != NO_FACE:
                    raise
                warn(f"warning: skipped {e}")
            if len(batch) == PROBE_BATCH:
                if pool is None:  # not for a few probes: the module and the thread cost ~10 ms
                    from concurrent.futures import ThreadPoolExecutor

                    pool = ThreadPoolExecutor(1)
                pending.append(pool.submit(embedder.embed, batch))
                batch = []
        if not kept:
            raise UserError(
                "no usable probe images (unreadable or no face found; see the warnings above); for face crops "
                "drop --align"
                if embedder.align
                else "no readable probe images (see the warnings above)"
            )
        parts = [p.result() for p in pending] + ([embedder.embed(batch)] if batch else [])
        return kept, np.concatenate(parts)
    finally:
        if pool is not None:
            pool.shutdown()


def _folder_key(folder: Path, embedder: Embedder, template: str, index_type: str) -> str:
    """Cache key: the model file's sha256, gallery options and the folder listing (path, size, mtime)."""
    import hashlib

    h = hashlib.sha256(
        f"{embedder.sha256}|{template}|{index_type}|align={embedder.align}|decode={DECODE_VERSION}".encode()
    )
    files = list_images(folder)
    if not files:  # refused before a cache folder is made in it
        raise UserError(f"{folder}: no identity sub-folders with images (expected {folder}/<identity>/*.jpg|png|...)")
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _cache_root(folder: Path) -> Path:
    import hashlib

    local = folder / CACHE_DIR_NAME
    if os.access(folder, os.W_OK) or local.is_dir():
        return local
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lrface" / "galleries" / hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]


def open_gallery(
    path: str | Path, model: str | None, template: str = "mean", index_type: str = "flat", log=None, align: bool = False
) -> tuple[Gallery, Embedder]:
    """A saved gallery or a plain identity folder (built once and cached under ``<folder>/.lrface-gallery/``).
    Model: ``model`` (a path or packaged name), else the gallery's recorded model, else the packaged default. ``align``:
    probes, and the images of a plain folder, are raw photos to detect and align (torch-free MTCNN)."""
    log = log or (lambda m: print(m, file=sys.stderr))
    path = Path(path)
    if is_gallery(path):
        gallery = Gallery.open(path)
        recorded = Path(gallery.info["model_path"])
        if model is None and recorded.is_file():
            model = str(recorded)
        elif model is None:
            try:
                model = str(resolve_model(None))
            except UserError:
                raise UserError(
                    f"{path}: its model {recorded} is gone and no packaged model is installed; pass --model"
                ) from None
        embedder = Embedder(resolve_model(model), align=align)
        gallery.check_model(embedder)
        return gallery, embedder
    if not path.is_dir():
        raise UserError(
            f"{path}: no such gallery or folder; pass a gallery built by `lrface gallery build` "
            "or a folder of <identity>/ images"
        )
    check_pointer_not_lost(path)
    embedder = Embedder(resolve_model(model), align=align)
    key = _folder_key(path, embedder, template, index_type)
    root = _cache_root(path)
    cached = root / key
    if not is_gallery(cached):
        import shutil

        with writer_lock(root):
            if not is_gallery(cached):  # the folder is scanned (and refused if empty) before the log line
                progress = lambda m: log(
                    f"building gallery cache {cached} (first use of this folder with this model): {m}"
                )
                gallery, _report = build_from_folder(path, embedder, template, index_type, warn=log, progress=progress)
                gallery.save(cached)
                for old in root.iterdir():  # drop caches of older folder contents / models
                    if old.is_dir() and old.name != key:
                        shutil.rmtree(old, ignore_errors=True)
    gallery = Gallery.open(cached)
    gallery.check_model(embedder)
    return gallery, embedder
