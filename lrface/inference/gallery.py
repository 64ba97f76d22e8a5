"""FAISS galleries with SQLite metadata (torch-free).

A gallery is a directory::

    gallery.json            pointer: format, current index/metadata file names and their sizes
    index-<gen>.faiss       FAISS index over L2-normalised embeddings (inner product = cosine)
    vectors-<gen>.npz       flat galleries only: the same ids and vectors, so that read-only
                            search (identify, evaluate) is an exact numpy inner product that
                            returns what IndexFlatIP returns without loading FAISS (~100 ms)
    meta-<gen>.sqlite       info (model fingerprint, embedding size, index params, template),
                            identities, samples (file, content hash, embedding, aligned: 1 when
                            the file was a raw photo aligned with --align)

Every save writes a new generation of both files, then replaces ``gallery.json`` atomically, so a
reader sees the old gallery or the new one, never a mix; a killed writer leaves only orphan files
that the next save removes. Vector ids are identity ids (``template=mean``: one L2-normalised mean
per identity) or sample ids (``template=all``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from ..imageio import BadImage
from .folders import check_identity_name

FORMAT = "lrface-gallery/1"
POINTER = "gallery.json"
INDEX_TYPES = ("flat", "ivf", "hnsw")
TEMPLATES = ("mean", "all")
FEW_QUERIES = 64
_SCHEMA = """
CREATE TABLE info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE samples(id INTEGER PRIMARY KEY, identity_id INTEGER NOT NULL REFERENCES identities(id),
                     file TEXT NOT NULL, content_hash TEXT UNIQUE NOT NULL, embedding BLOB NOT NULL,
                     aligned INTEGER NOT NULL DEFAULT 0);
CREATE INDEX samples_identity ON samples(identity_id);
"""


def is_gallery(path: str | Path) -> bool:
    return (Path(path) / POINTER).is_file()


def file_hash(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_index_params(kind: str, n: int) -> dict:
    """Search/build parameters by index type and expected size (IVF nlist grows with sqrt(n))."""
    if kind == "ivf":
        nlist = int(min(4096, max(1, round(math.sqrt(max(n, 1)))), max(1, n // 39)))
        return {"nlist": nlist, "nprobe": min(nlist, 32)}
    if kind == "hnsw":
        return {"M": 32, "efConstruction": 80, "efSearch": 64}
    return {}


def new_index(kind: str, dim: int, params: dict):
    import faiss

    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if kind == "ivf":
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = params["efConstruction"]
        return faiss.IndexIDMap2(hnsw)
    raise UserError(f"unknown index type {kind!r}; choose one of {', '.join(INDEX_TYPES)}")


def apply_search_params(index, kind: str, params: dict) -> None:
    if kind == "ivf":
        index.nprobe = params["nprobe"]
    elif kind == "hnsw":
        import faiss

        faiss.downcast_index(index.index).hnsw.efSearch = params["efSearch"]


class ExactIP:
    """Read-only exact inner-product search over a flat gallery's saved vectors (IndexFlatIP's results)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        self.ids, self.vectors = ids, vectors
        self.ntotal, self.d = vectors.shape

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), N x k, best first. Blocks of queries run on up to 4 threads: the matrix
        product and the partial sort release the GIL, and numpy's BLAS runs on one thread here."""
        k = min(k, self.ntotal)
        step = max(1, min((1 << 24) // max(self.ntotal, 1),  # at most 16M scores (64 MB) per block
                          -(-len(queries) // min(4, os.cpu_count() or 1))))
        blocks = [queries[i:i + step] for i in range(0, len(queries), step)] or [queries]
        if len(blocks) == 1:
            parts = [self._block(blocks[0], k)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(4, len(blocks))) as pool:
                parts = list(pool.map(lambda b: self._block(b, k), blocks))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _block(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self.vectors.T
        top = np.argpartition(scores, self.ntotal - k, axis=1)[:, self.ntotal - k:] if k < self.ntotal else \
            np.broadcast_to(np.arange(self.ntotal), scores.shape)
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), self.ids[np.take_along_axis(top, order, axis=1)]


def _read_exact(path: Path) -> ExactIP:
    with np.load(path, allow_pickle=False) as z:
        return ExactIP(np.asarray(z["ids"], np.int64), np.ascontiguousarray(z["vectors"], np.float32))


def fill_index(index, kind: str, vectors: np.ndarray, ids: np.ndarray, seed: int = 0) -> None:
    """Train (IVF, on at most 64 x nlist vectors) and add vectors with their ids."""
    if kind == "ivf" and not index.is_trained:
        rng = np.random.default_rng(seed)
        sample = vectors if len(vectors) <= 64 * index.nlist else vectors[rng.choice(len(vectors), 64 * index.nlist, replace=False)]
        index.train(np.ascontiguousarray(sample, np.float32))
    if len(vectors):
        index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))


def _normalise(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass
class AddReport:
    added: int = 0
    duplicates: int = 0
    bad: int = 0


@contextlib.contextmanager
def writer_lock(root: Path):
    """One writer at a time per gallery (advisory lock on ``root/.lock``)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Gallery:
    """An identity gallery in memory (FAISS index + SQLite connection), saved and opened atomically."""

    def __init__(self, conn: sqlite3.Connection, index, info: dict, root: Path | None = None):
        self.conn, self.index, self.info, self.root = conn, index, info, root
        self._deferred = False
        apply_search_params(self.index, self.kind, self.params)

    # -- properties -------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.info["index_type"]

    @property
    def params(self) -> dict:
        return self.info["index_params"]

    @property
    def template(self) -> str:
        return self.info["template"]

    @property
    def dim(self) -> int:
        return int(self.info["embedding_dim"])

    @property
    def fingerprint(self) -> str:
        return self.info["model_fingerprint"]

    # -- creation, opening, saving ---------------------------------------------------------------
    @classmethod
    def new(cls, embedder, template: str = "mean", index_type: str = "flat", expected: int = 0,
            params: dict | None = None) -> Gallery:
        if template not in TEMPLATES:
            raise UserError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
        if index_type not in INDEX_TYPES:
            raise UserError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        info = {"format": FORMAT, "lrface_version": __version__, "model_fingerprint": embedder.fingerprint,
                "model_path": str(embedder.path), "embedding_dim": embedder.dim, "template": template,
                "index_type": index_type, "index_params": params or default_index_params(index_type, expected),
                "preprocess": embedder.spec.to_dict()}
        conn = sqlite3.connect(":memory:")
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT INTO info VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()])
        return cls(conn, new_index(index_type, embedder.dim, info["index_params"]), info)

    @classmethod
    def open(cls, root: str | Path, writable: bool = False) -> Gallery:
        """Open a saved gallery; ``writable`` copies the metadata into memory for add/remove + save.

        A read-only flat gallery is searched with :class:`ExactIP` from ``vectors-<gen>.npz``."""
        root = Path(root)
        pointer = root / POINTER
        if not pointer.is_file():
            if not root.exists():
                raise UserError(f"{root}: gallery not found; build one with `lrface gallery build`")
            raise UserError(f"{root}: not a gallery (no {POINTER}); build one with `lrface gallery build {root} --model M`")
        try:
            ptr = json.loads(pointer.read_text(encoding="utf-8"))
            files = {"index": root / ptr["index"], "meta": root / ptr["meta"]}
            if ptr.get("flat"):
                files["vectors"] = root / ptr["flat"]
            sizes = ptr["sizes"]
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{pointer}: corrupt gallery pointer ({e}); rebuild with `lrface gallery build`") from None
        if ptr.get("format") != FORMAT:
            raise UserError(f"{root}: gallery format {ptr.get('format')!r} is not {FORMAT}; rebuild it")
        for what, path in files.items():
            if not path.is_file() or path.stat().st_size != sizes.get(path.name):
                raise UserError(f"{path}: gallery {what} file missing or truncated; rebuild with `lrface gallery build`")
        if "vectors" in files and not writable:
            try:
                index = _read_exact(files["vectors"])
            except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise UserError(f"{files['vectors']}: unreadable gallery vectors ({e}); rebuild the gallery") from None
        else:
            import faiss

            try:
                index = faiss.read_index(str(files["index"]))
            except RuntimeError as e:
                raise UserError(f"{files['index']}: unreadable FAISS index ({str(e).splitlines()[-1][:120]}); "
                                "rebuild the gallery") from None
        try:
            disk = sqlite3.connect(files["meta"].resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
            if writable:
                conn = sqlite3.connect(":memory:")
                disk.backup(conn)
                disk.close()
                if not _has_aligned_column(conn):  # a gallery from before --align
                    conn.execute("ALTER TABLE samples ADD COLUMN aligned INTEGER NOT NULL DEFAULT 0")
            else:
                conn = disk
            info = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM info")}
            count = conn.execute(f"SELECT COUNT(*) FROM {'identities' if info['template'] == 'mean' else 'samples'}").fetchone()[0]
        except (sqlite3.DatabaseError, ValueError, KeyError) as e:
            raise UserError(f"{files['meta']}: corrupt gallery metadata ({e}); rebuild with `lrface gallery build`") from None
        if count != index.ntotal or index.d != int(info["embedding_dim"]):
            raise UserError(f"{root}: index ({index.ntotal} x {index.d}) disagrees with its metadata "
                            f"({count} x {info['embedding_dim']}); rebuild the gallery")
        return cls(conn, index, info, root)

    def save(self, root: str | Path) -> None:
        """Write a new generation of index + metadata, switch ``gallery.json`` to it, drop old files."""
        import faiss

        from ..fileio import atomic_write_json

        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        gen = os.urandom(6).hex()
        index_path, meta_path = root / f"index-{gen}.faiss", root / f"meta-{gen}.sqlite"
        vectors_path = root / f"vectors-{gen}.npz" if self.kind == "flat" else None
        written = [p for p in (index_path, meta_path, vectors_path) if p is not None]
        try:
            faiss.write_index(self.index, str(index_path))
            if vectors_path is not None:
                n = self.index.ntotal
                with open(vectors_path, "wb") as fh:
                    np.savez(fh, ids=faiss_id_map(self.index),
                             vectors=self.index.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32))
            self.conn.commit()  # backup() waits forever on an open write transaction
            disk = sqlite3.connect(meta_path)
            self.conn.backup(disk)
            disk.close()
            for p in written:
                with open(p, "rb+") as fh:
                    os.fsync(fh.fileno())
            atomic_write_json(root / POINTER, {
                "format": FORMAT, "index": index_path.name, "meta": meta_path.name,
                **({"flat": vectors_path.name} if vectors_path else {}),
                "sizes": {p.name: p.stat().st_size for p in written},
                "identities": self.count_identities(), "vectors": int(self.index.ntotal)})
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
        keep = {p.name for p in written}
        for p in root.iterdir():
            if (p.name.startswith(("index-", "meta-", "vectors-")) and p.name not in keep) or p.name.startswith(f".{POINTER}."):
                p.unlink(missing_ok=True)
        self.root = root

    # -- contents ------------------------------------------------------------------------------
    def check_model(self, embedder) -> None:
        """Refuse a model other than the one the gallery was built with."""
        where = self.root or "the gallery"
        if embedder.dim != self.dim:
            raise UserError(f"{where} holds {self.dim}-d embeddings but {embedder.path} makes {embedder.dim}-d ones; "
                            "use the gallery's model or rebuild the gallery with this one")
        if embedder.fingerprint != self.fingerprint:
            raise UserError(f"{where} was built with model {self.fingerprint[:12]} ({self.info['model_path']}) but "
                            f"{embedder.path} is model {embedder.fingerprint[:12]}; use that model or rebuild the gallery")

    def count_identities(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0]

    def identities(self) -> list[tuple[str, int]]:
        """(name, number of samples), by name."""
        return self.conn.execute("SELECT i.name, COUNT(s.id) FROM identities i LEFT JOIN samples s "
                                 "ON s.identity_id = i.id GROUP BY i.id ORDER BY i.name").fetchall()

    def count_aligned(self) -> int:
        """Samples that were raw photos aligned with --align."""
        if not _has_aligned_column(self.conn):
            return 0
        return self.conn.execute("SELECT COUNT(*) FROM samples WHERE aligned").fetchone()[0]

    def known_hashes(self, hashes: list[str]) -> dict[str, str]:
        """content hash -> identity, for the hashes already in the gallery."""
        out = {}
        for i in range(0, len(hashes), 900):
            chunk = hashes[i:i + 900]
            out.update(self.conn.execute(
                f"SELECT s.content_hash, i.name FROM samples s JOIN identities i ON i.id = s.identity_id "
                f"WHERE s.content_hash IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        return out

    @contextlib.contextmanager
    def bulk(self):
        """Defer index updates to one rebuild at the end (for building from many files)."""
        self._deferred = True
        try:
            yield self
        finally:
            self._deferred = False
        self._rebuild()

    def add(self, identity: str, files: list[str], hashes: list[str], embeddings: np.ndarray,
            aligned: bool = False) -> int:
        """Add samples of one identity (hashes already present are skipped); returns how many were added.
        ``aligned`` records that the files were raw photos aligned with --align."""
        identity = check_identity_name(identity)
        if embeddings.shape[1:] != (self.dim,):
            raise UserError(f"embeddings are {embeddings.shape[1:]}, gallery expects ({self.dim},)")
        seen, rows = set(self.known_hashes(list(hashes))), []
        for f, h, e in zip(files, hashes, embeddings):
            if h not in seen:
                seen.add(h)
                rows.append((f, h, np.asarray(e, np.float32)))
        if not rows:
            return 0
        self.conn.execute("INSERT OR IGNORE INTO identities(name) VALUES (?)", (identity,))
        ident = self.conn.execute("SELECT id FROM identities WHERE name = ?", (identity,)).fetchone()[0]
        first = self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM samples").fetchone()[0]
        self.conn.executemany("INSERT INTO samples(id, identity_id, file, content_hash, embedding, aligned) "
                              "VALUES (?, ?, ?, ?, ?, ?)",
                              [(first + j, ident, f, h, e.tobytes(), int(aligned)) for j, (f, h, e) in enumerate(rows)])
        if self.template == "mean":
            self._upsert(np.asarray([ident]), _normalise(self._identity_mean(ident))[None])
        else:
            self._upsert(np.arange(first, first + len(rows)), _normalise(np.stack([r[2] for r in rows])))
        return len(rows)

    def remove(self, identity: str) -> int:
        """Remove an identity and all its samples; returns the number of samples removed."""
        identity = check_identity_name(identity)
        row = self.conn.execute("SELECT id FROM identities WHERE name = ?", (identity,)).fetchone()
        if row is None:
            raise UserError(f"identity {identity!r} is not in the gallery ({self.count_identities()} identities; "
                            "see `lrface gallery list`)")
        ident = row[0]
        sample_ids = [r[0] for r in self.conn.execute("SELECT id FROM samples WHERE identity_id = ?", (ident,))]
        self.conn.execute("DELETE FROM samples WHERE identity_id = ?", (ident,))
        self.conn.execute("DELETE FROM identities WHERE id = ?", (ident,))
        if self.kind == "hnsw":  # HNSW cannot delete: rebuild from the stored embeddings
            self._rebuild()
        else:
            self.index.remove_ids(np.asarray([ident] if self.template == "mean" else sample_ids, np.int64))
        return len(sample_ids)

    def _identity_mean(self, ident: int) -> np.ndarray:
        embs = [np.frombuffer(b, np.float32) for (b,) in
                self.conn.execute("SELECT embedding FROM samples WHERE identity_id = ?", (ident,))]
        return np.mean(embs, axis=0)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self.template == "mean":
            ids = [r[0] for r in self.conn.execute("SELECT id FROM identities ORDER BY id")]
            vecs = [_normalise(self._identity_mean(i)) for i in ids]
        else:
            rows = self.conn.execute("SELECT id, embedding FROM samples ORDER BY id").fetchall()
            ids, vecs = [r[0] for r in rows], [_normalise(np.frombuffer(r[1], np.float32)) for r in rows]
        return np.asarray(ids, np.int64), (np.stack(vecs) if vecs else np.zeros((0, self.dim), np.float32))

    def _rebuild(self) -> None:
        ids, vecs = self._all_vectors()
        if self.kind == "ivf":  # nlist follows the gallery size; keep the chosen nprobe (at most nlist)
            fresh = default_index_params("ivf", len(ids))
            self.info["index_params"] = {**fresh, "nprobe": min(fresh["nlist"], self.params.get("nprobe", fresh["nprobe"]))}
            self.conn.execute("UPDATE info SET value = ? WHERE key = 'index_params'", (json.dumps(self.params),))
        self.index = new_index(self.kind, self.dim, self.params)
        if len(ids):
            fill_index(self.index, self.kind, vecs, ids)
        apply_search_params(self.index, self.kind, self.params)

    def _upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Set the vectors of ``ids`` (new or replacing old ones)."""
        if self._deferred:
            return
        ids = np.asarray(ids, np.int64)
        if self.kind == "ivf" and not self.index.is_trained:
            self._rebuild()
        elif self.kind == "hnsw" and np.isin(ids, faiss_id_map(self.index)).any():
            self._rebuild()  # HNSW cannot replace in place
        else:
            if self.kind != "hnsw":
                self.index.remove_ids(ids)
            fill_index(self.index, self.kind, vecs, ids)

    # -- search --------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k distinct identities with cosine scores, per L2-normalised query."""
        if self.index.ntotal == 0:
            raise UserError(f"{self.root or 'the gallery'} is empty; add identities with `lrface gallery add`")
        k = max(1, min(k, self.count_identities()))
        queries = np.ascontiguousarray(queries, np.float32)
        if isinstance(self.index, ExactIP):
            return self._search(queries, k)
        import faiss

        threads = faiss.omp_get_max_threads()
        if len(queries) < FEW_QUERIES:  # starting OpenMP threads costs more than a few queries take
            faiss.omp_set_num_threads(1)
        try:
            return self._search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if self.template == "mean":
            scores, ids = self.index.search(queries, k)
            names = self._names(ids)
            return [[(names[i], float(s)) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, ids)]
        results: list[list[tuple[str, float]] | None] = [None] * len(queries)
        todo, ks = np.arange(len(queries)), min(self.index.ntotal, 4 * k)
        while len(todo):
            scores, ids = self.index.search(queries[todo], ks)
            names = self._names(ids)
            again = []
            for q, srow, irow in zip(todo, scores, ids):
                best: dict[str, float] = {}
                for s, i in zip(srow, irow):
                    if i >= 0 and names[i] not in best:
                        best[names[i]] = float(s)
                if len(best) >= k or ks >= self.index.ntotal:
                    results[q] = list(best.items())[:k]
                else:
                    again.append(q)
            todo, ks = np.asarray(again, np.int64), min(self.index.ntotal, ks * 4)
        return results

    def _names(self, ids: np.ndarray) -> dict[int, str]:
        """Identity name per vector id found (``ids`` as FAISS returns them, -1 = none)."""
        ids = sorted(set(ids[ids >= 0].tolist()))  # not np.unique: it imports numpy.ma (~30 ms)
        sql = ("SELECT id, name FROM identities WHERE id IN ({})" if self.template == "mean" else
               "SELECT s.id, i.name FROM samples s JOIN identities i ON i.id = s.identity_id WHERE s.id IN ({})")
        out = {}
        for j in range(0, len(ids), 900):
            chunk = ids[j:j + 900]
            out.update(self.conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
        return out


def _has_aligned_column(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "aligned" for row in conn.execute("PRAGMA table_info(samples)"))


def faiss_id_map(index) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map)


def add_files(gallery: Gallery, embedder, identity: str, files: list[Path], warn=print) -> AddReport:
    """Hash, decode (bad files, and photos without a face when aligning, are skipped with a warning),
    embed and add one identity's files."""
    report = AddReport()
    hashes = [file_hash(f) for f in files]
    known = gallery.known_hashes(hashes)
    images, keep_files, keep_hashes = [], [], []
    for f, h in zip(files, hashes):
        if h in known or h in keep_hashes:
            report.duplicates += 1
            continue
        try:
            images.append(embedder.load(f))
        except BadImage as e:
            warn(f"warning: skipped {e}")
            report.bad += 1
            continue
        keep_files.append(str(Path(f).resolve()))
        keep_hashes.append(h)
    if images:
        report.added = gallery.add(identity, keep_files, keep_hashes, embedder.embed(images), aligned=embedder.align)
    return report


def build_from_folder(folder: Path, embedder, template: str = "mean", index_type: str = "flat",
                      warn=print, progress=None) -> tuple[Gallery, AddReport]:
    """A gallery (in memory) from an identity folder; the index is built once at the end."""
    from .folders import scan_identity_folder

    tree = scan_identity_folder(folder)
    n_files = sum(len(v) for v in tree.values())
    if progress:
        progress(f"embedding {n_files} images of {len(tree)} identities from {folder}")
    gallery = Gallery.new(embedder, template, index_type, expected=len(tree) if template == "mean" else n_files)
    total = AddReport()
    with gallery.bulk():
        for name, files in tree.items():
            r = add_files(gallery, embedder, name, files, warn)
            total.added, total.duplicates, total.bad = total.added + r.added, total.duplicates + r.duplicates, total.bad + r.bad
        if gallery.count_identities() == 0:
            raise UserError(f"{folder}: none of the {n_files} images could be used"
                            f"{' (unreadable or no face found)' if embedder.align else ''}; nothing to build")
    if gallery.count_identities() == 1:
        warn("warning: the gallery has a single identity, so every probe matches it; use --threshold "
             "to answer 'unknown' for strangers")
    return gallery, total
