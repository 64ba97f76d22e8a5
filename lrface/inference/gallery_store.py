"""A gallery's files on disk and their generations (torch-free).

A gallery is a directory::

    gallery.json            pointer: format, current index/metadata file names and their sizes
    index-<gen>.faiss       FAISS index over L2-normalised embeddings (inner product = cosine)
    vectors-<gen>.npz       flat galleries only: the same ids and vectors, so that read-only
                            search (identify, evaluate, serve) is an exact numpy inner product that
                            returns what IndexFlatIP returns without loading FAISS (~100 ms)
    meta-<gen>.sqlite       info (model fingerprint, embedding size, index params, template,
                            calibration), identities, samples (file, content hash, embedding,
                            aligned: 1 when the file was a raw photo aligned with --align)

Every save writes a new generation of all files, then replaces ``gallery.json`` atomically, so a
reader sees the old gallery or the new one, never a mix; a killed writer leaves only orphan files
that the next save removes. Opening checks sizes, SQLite's page structure (``PRAGMA quick_check``)
and that index and metadata agree, so damage is reported, never read as a smaller gallery.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import numpy as np

from ..errors import Damaged
from ..schema_check import POINTER as POINTER_SCHEMA
from ..schema_check import check, gallery_info
from .vector_index import INDEX_TYPES, faiss_id_map, read_exact

FORMAT = "lrface-gallery/1"
POINTER = "gallery.json"
READ_RETRIES = 10  # re-reads when a writer publishes a new generation while a reader opens the old one
REBUILD = "rebuild with `lrface gallery build FOLDER --out {root} --force`"
TEMPLATES = ("mean", "all")
INFO_SCHEMA = gallery_info(TEMPLATES, INDEX_TYPES)
SCHEMA = """
CREATE TABLE info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE samples(id INTEGER PRIMARY KEY, identity_id INTEGER NOT NULL REFERENCES identities(id),
                     file TEXT NOT NULL, content_hash TEXT UNIQUE NOT NULL, embedding BLOB NOT NULL,
                     aligned INTEGER NOT NULL DEFAULT 0);
CREATE INDEX samples_identity ON samples(identity_id);
"""


class GalleryUnreadable(Damaged):
    """A gallery on disk that cannot be read: missing, not a gallery, or with damaged or missing files. The
    service answers it 503 (its own gallery, not the request, is at fault)."""


def is_gallery(path: str | Path) -> bool:
    return (Path(path) / POINTER).is_file()


def check_pointer_not_lost(root: Path) -> None:
    """GalleryUnreadable when ``root`` holds a gallery's generation files but its pointer is gone (a gallery with
    ``gallery.json`` deleted), rather than reading it as an empty or plain image folder."""
    try:
        names = [p.name for p in root.iterdir()] if root.is_dir() else []
    except OSError:
        return
    if not (root / POINTER).exists() and any(n.startswith(("index-", "meta-")) for n in names):
        raise GalleryUnreadable(
            f"{root}: a gallery whose {POINTER} is missing (damaged or half-copied); {REBUILD.format(root=root)}"
        )


def generation_stamp(root: Path) -> bytes | None:
    """A cheap token that changes whenever a new generation is published: the pointer's bytes, which name
    the generation's random file names (inode and mtime can repeat across quick replacements)."""
    try:
        with open(root / POINTER, "rb") as fh:
            return fh.read()
    except OSError:
        return None


@contextlib.contextmanager
def writer_lock(root: Path):
    """One writer at a time per gallery (advisory lock on ``root/.lock``). A folder made here for a new gallery
    is removed again when the writer fails before saving one, so a failed build leaves nothing behind."""
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with open(root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        if created and not is_gallery(root) and {p.name for p in root.iterdir()} <= {".lock"}:
            (root / ".lock").unlink(missing_ok=True)
            root.rmdir()


def embeddings_from_blobs(blobs: list, dim: int, root: Path | None) -> np.ndarray:
    """Stored sample embeddings (float32 bytes each) -> N x ``dim``; GalleryUnreadable when one is not ``dim``
    finite values (a tampered or damaged metadata file)."""
    where, fix = root or "the gallery", REBUILD.format(root=root or "GALLERY")
    bad = next((b for b in blobs if not isinstance(b, bytes) or len(b) != 4 * dim), None)
    if bad is not None:
        raise GalleryUnreadable(
            f"{where}: damaged gallery metadata (a sample embedding of {type(bad).__name__} "
            f"{len(bad) if isinstance(bad, (bytes, str)) else ''} is not {dim} float32 values); {fix}"
        )
    v = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim)
    if not np.isfinite(v).all():
        raise GalleryUnreadable(f"{where}: damaged gallery metadata (a sample embedding holds NaN or infinity); {fix}")
    return v


def has_aligned_column(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "aligned" for row in conn.execute("PRAGMA table_info(samples)"))


def _pointer_files(root: Path) -> dict[str, Path]:
    pointer = root / POINTER
    if not pointer.is_file():
        check_pointer_not_lost(root)
        if not root.exists():
            raise GalleryUnreadable(f"{root}: gallery not found; build one with `lrface gallery build`")
        raise GalleryUnreadable(
            f"{root}: not a gallery (no {POINTER}); if it is a folder of <identity>/ photos, build a gallery from it "
            f"with `lrface gallery build {root}` (written to {root.with_name(root.name + '.gallery')})"
        )
    try:
        ptr = json.loads(pointer.read_text(encoding="utf-8"))
        check(ptr, POINTER_SCHEMA, POINTER)  # file names of this generation only: no path leaves the gallery
        files = {"index": root / ptr["index"], "meta": root / ptr["meta"]}
        if ptr.get("flat"):
            files["vectors"] = root / ptr["flat"]
        sizes = ptr["sizes"]
    except ValueError as e:  # SchemaError and JSONDecodeError are ValueErrors
        raise GalleryUnreadable(f"{pointer}: damaged gallery pointer ({e}); {REBUILD.format(root=root)}") from None
    if ptr.get("format") != FORMAT:
        raise GalleryUnreadable(
            f"{root}: gallery format {ptr.get('format')!r} is not {FORMAT}; {REBUILD.format(root=root)}"
        )
    for what, path in files.items():
        try:
            size = path.stat().st_size if path.is_file() else None
        except OSError:  # removed by a writer between the two calls
            size = None
        if size is None or size != sizes.get(path.name):
            raise GalleryUnreadable(f"{path}: gallery {what} file missing or truncated; {REBUILD.format(root=root)}")
    return files


def _read_index(files: dict[str, Path], root: Path, writable: bool):
    if "vectors" in files and not writable:
        try:
            exact = read_exact(files["vectors"])
            if not np.isfinite(exact.vectors).all():
                raise ValueError("NaN or infinity among the vectors")
            return exact
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise GalleryUnreadable(
                f"{files['vectors']}: damaged gallery vectors ({e}); {REBUILD.format(root=root)}"
            ) from None
    import faiss

    try:
        return faiss.read_index(str(files["index"]))
    except RuntimeError as e:
        raise GalleryUnreadable(
            f"{files['index']}: unreadable FAISS index ({str(e).splitlines()[-1][:120]}); {REBUILD.format(root=root)}"
        ) from None


def load_generation(root: Path, writable: bool = False) -> tuple[sqlite3.Connection, object, dict]:
    """(metadata connection, index, info) of the current generation; GalleryUnreadable naming the fix on any damage.

    ``writable`` copies the metadata into memory (for add/remove + save) and loads the FAISS index even for
    flat galleries; read-only flat galleries get :class:`ExactIP` over ``vectors-<gen>.npz``. A reader that
    loses the race with a writer (the generation it started reading was replaced and its files removed)
    reads the new generation instead of reporting damage."""
    for _attempt in range(READ_RETRIES):
        before = generation_stamp(root)
        try:
            return _load_generation(root, writable)
        except GalleryUnreadable:
            if generation_stamp(root) == before:
                raise
    return _load_generation(root, writable)


def _load_generation(root: Path, writable: bool) -> tuple[sqlite3.Connection, object, dict]:
    files = _pointer_files(root)
    index = _read_index(files, root, writable)
    meta = files["meta"]
    try:
        disk = sqlite3.connect(meta.resolve().as_uri() + "?mode=ro&immutable=1", uri=True, check_same_thread=False)
        problems = [" ".join(str(r[0]).split()) for r in disk.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            disk.close()
            raise GalleryUnreadable(
                f"{meta}: damaged gallery metadata (SQLite quick_check: {'; '.join(problems)[:160]}); "
                f"{REBUILD.format(root=root)}"
            )
        if writable:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            disk.backup(conn)
            disk.close()
            if not has_aligned_column(conn):  # a gallery from before --align
                conn.execute("ALTER TABLE samples ADD COLUMN aligned INTEGER NOT NULL DEFAULT 0")
        else:
            conn = disk
        info = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM info")}
        check(info, INFO_SCHEMA, "info")
        table = "identities" if info["template"] == "mean" else "samples"
        count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        dim = int(info["embedding_dim"])
    except (sqlite3.DatabaseError, ValueError, TypeError) as e:  # SchemaError is a ValueError
        detail = " ".join(str(e).split())[:160]
        raise GalleryUnreadable(f"{meta}: damaged gallery metadata ({detail}); {REBUILD.format(root=root)}") from None
    if count != index.ntotal or index.d != dim:
        raise GalleryUnreadable(
            f"{root}: index ({index.ntotal} x {index.d}) disagrees with its metadata "
            f"({count} x {dim}); {REBUILD.format(root=root)}"
        )
    return conn, index, info


def save_generation(root: Path, conn: sqlite3.Connection, index, flat: bool, dim: int, identities: int) -> None:
    """Write a new generation of index (+ flat vectors) + metadata, switch ``gallery.json`` to it, drop old files."""
    import faiss

    from ..fileio import atomic_write_json, write_file

    root.mkdir(parents=True, exist_ok=True)
    gen = os.urandom(6).hex()
    index_path, meta_path = root / f"index-{gen}.faiss", root / f"meta-{gen}.sqlite"
    vectors_path = root / f"vectors-{gen}.npz" if flat else None
    written = [p for p in (index_path, meta_path, vectors_path) if p is not None]
    try:  # every file through Python's I/O: a full disk or an unwritable folder is an OSError naming the file
        write_file(index_path, faiss.serialize_index(index))
        if vectors_path is not None:
            n = index.ntotal
            buf = io.BytesIO()
            np.savez(
                buf,
                ids=faiss_id_map(index),
                vectors=index.index.reconstruct_n(0, n) if n else np.zeros((0, dim), np.float32),
            )
            write_file(vectors_path, buf.getbuffer())
        conn.commit()  # serialize() wants no open write transaction
        write_file(meta_path, conn.serialize())
        atomic_write_json(
            root / POINTER,
            {
                "format": FORMAT,
                "index": index_path.name,
                "meta": meta_path.name,
                **({"flat": vectors_path.name} if vectors_path else {}),
                "sizes": {p.name: p.stat().st_size for p in written},
                "identities": identities,
                "vectors": int(index.ntotal),
            },
        )
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    keep = {p.name for p in written}
    for p in root.iterdir():
        if (p.name.startswith(("index-", "meta-", "vectors-")) and p.name not in keep) or p.name.startswith(
            f".{POINTER}."
        ):
            p.unlink(missing_ok=True)
