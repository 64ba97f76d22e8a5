"""The gallery of enrolled identities in memory: creation, saving, contents, add/remove (torch-free).

Files and generations live in :mod:`.gallery_store`, the searched vectors in :mod:`.gallery_vectors`, index
construction in :mod:`.vector_index`, top-k search in :mod:`.gallery_search`, enrolment from image files in
:mod:`.enrol`. Vector ids are identity ids
(``template=mean``: one L2-normalised mean per identity) or sample ids (``template=all``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from .folders import check_identity_name, claim_name, identity_keys
from .gallery_search import search_gallery
from .gallery_store import (
    FORMAT,
    SCHEMA,
    TEMPLATES,
    has_aligned_column,
    is_gallery,
    load_generation,
    save_generation,
)
from .gallery_vectors import GalleryVectors
from .model_match import check_model
from .vector_index import (
    INDEX_TYPES,
    apply_search_params,
    default_index_params,
    new_index,
    normalise,
)

__all__ = ["INDEX_TYPES", "TEMPLATES", "Gallery", "is_gallery"]


class UnknownIdentity(UserError):
    """An identity name that is not enrolled."""


class Gallery(GalleryVectors):
    """An identity gallery in memory (FAISS index + SQLite connection), saved and opened atomically."""

    def __init__(self, conn: sqlite3.Connection, index, info: dict, root: Path | None = None):
        self.conn, self.index, self.info, self.root = conn, index, info, root
        self._deferred = False
        self._keys: dict[str, list[str]] | None = None  # identity_key -> enrolled names, built on the first add
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
    def new(
        cls, embedder, template: str = "mean", index_type: str = "flat", expected: int = 0, params: dict | None = None
    ) -> Gallery:
        if template not in TEMPLATES:
            raise UserError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
        if index_type not in INDEX_TYPES:
            raise UserError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        info = {
            "format": FORMAT,
            "lrface_version": __version__,
            "model_fingerprint": embedder.fingerprint,
            "model_sha256": embedder.sha256,
            "model_path": str(embedder.path),
            "embedding_dim": embedder.dim,
            "template": template,
            "index_type": index_type,
            "index_params": params or default_index_params(index_type, expected),
            "preprocess": embedder.spec.to_dict(),
        }
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO info VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()])
        return cls(conn, new_index(index_type, embedder.dim, info["index_params"]), info)

    @classmethod
    def open(cls, root: str | Path, writable: bool = False) -> Gallery:
        """Open a saved gallery; ``writable`` copies the metadata into memory for add/remove + save.

        A read-only flat gallery is searched with :class:`ExactIP` from ``vectors-<gen>.npz``."""
        root = Path(root)
        conn, index, info = load_generation(root, writable)
        return cls(conn, index, info, root)

    def save(self, root: str | Path) -> None:
        """Write a new generation of the gallery at ``root`` (readers see the old one or the new one)."""
        root = Path(root)
        self.set_info("lrface_version", __version__)  # the version that wrote this generation
        self._note_calibration_drift()
        save_generation(root, self.conn, self.index, self.kind == "flat", self.dim, self.count_identities())
        self.root = root

    def _note_calibration_drift(self) -> None:
        """Mark the calibration stale once the gallery was edited after it (lrface.inference.calibrate.drifted)."""
        from .calibrate import drifted

        cal = self.info.get("calibration")
        if not cal:
            return
        now = {"identities": self.count_identities(), "samples": self.count_samples()}
        if (updated := drifted(cal, self.info.get("edits", 0), now)) != cal:
            self.set_info("calibration", updated)

    def _edited(self) -> None:
        self.set_info("edits", self.info.get("edits", 0) + 1)

    def set_info(self, key: str, value) -> None:
        """Record a metadata value (JSON) in the gallery's info table; saved with the next :meth:`save`."""
        self.info[key] = value
        self.conn.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, json.dumps(value)))

    # -- contents ------------------------------------------------------------------------------
    def check_model(self, embedder) -> None:
        """Refuse a model other than the one the gallery was built with (:func:`.model_match.check_model`)."""
        check_model(self.info, embedder, self.root)

    def count_identities(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0]

    def count_samples(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def identities(self) -> list[tuple[str, int]]:
        """(name, number of samples), by name."""
        return self.conn.execute(
            "SELECT i.name, COUNT(s.id) FROM identities i LEFT JOIN samples s "
            "ON s.identity_id = i.id GROUP BY i.id ORDER BY i.name"
        ).fetchall()

    def count_aligned(self) -> int:
        """Samples that were raw photos aligned with --align."""
        if not has_aligned_column(self.conn):
            return 0
        return self.conn.execute("SELECT COUNT(*) FROM samples WHERE aligned").fetchone()[0]

    def known_hashes(self, hashes: list[str]) -> dict[str, str]:
        """content hash -> identity, for the hashes already in the gallery."""
        out = {}
        for i in range(0, len(hashes), 900):
            chunk = hashes[i : i + 900]
            out.update(
                self.conn.execute(
                    f"SELECT s.content_hash, i.name FROM samples s JOIN identities i ON i.id = s.identity_id "
                    f"WHERE s.content_hash IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
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

    def add(
        self, identity: str, files: list[str], hashes: list[str], embeddings: np.ndarray, aligned: bool = False
    ) -> int:
        """Add samples of one identity (hashes already present are skipped); returns how many were added.
        ``aligned`` records that the files were raw photos aligned with --align."""
        identity = check_identity_name(identity)
        if embeddings.shape[1:] != (self.dim,):
            raise UserError(
                f"these images give {'x'.join(map(str, embeddings.shape[1:]))}-value embeddings, the gallery holds "
                f"{self.dim}-value ones "
                "(another model); add with the gallery's own model (drop --model), or build a new gallery"
            )
        seen, rows = set(self.known_hashes(list(hashes))), []
        for f, h, e in zip(files, hashes, embeddings):
            if h not in seen:
                seen.add(h)
                rows.append((f, h, np.asarray(e, np.float32)))
        if not rows:
            return 0
        self._check_new_name(identity)
        self.conn.execute("INSERT OR IGNORE INTO identities(name) VALUES (?)", (identity,))
        ident = self.conn.execute("SELECT id FROM identities WHERE name = ?", (identity,)).fetchone()[0]
        first = self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM samples").fetchone()[0]
        self.conn.executemany(
            "INSERT INTO samples(id, identity_id, file, content_hash, embedding, aligned) VALUES (?, ?, ?, ?, ?, ?)",
            [(first + j, ident, f, h, e.tobytes(), int(aligned)) for j, (f, h, e) in enumerate(rows)],
        )
        if self.template == "mean":
            self._upsert(np.asarray([ident]), normalise(self._identity_mean(ident))[None])
        else:
            self._upsert(np.arange(first, first + len(rows)), normalise(np.stack([r[2] for r in rows])))
        self._edited()
        return len(rows)

    def name_keys(self) -> dict[str, list[str]]:
        """The enrolled names by :func:`.folders.identity_key` (for :func:`.folders.claim_name`)."""
        return identity_keys(n for (n,) in self.conn.execute("SELECT name FROM identities"))

    def _check_new_name(self, identity: str) -> None:
        """Refuse a new name that equals an enrolled one but for case, width or spacing (folders.name_clash)."""
        if self._keys is None:
            self._keys = self.name_keys()
        claim_name(identity, self._keys)

    def remove(self, identity: str) -> int:
        """Remove an identity and all its samples; returns the number of samples removed."""
        identity = check_identity_name(identity)
        row = self.conn.execute("SELECT id FROM identities WHERE name = ?", (identity,)).fetchone()
        if row is None:
            raise UnknownIdentity(
                f"identity {identity!r} is not in the gallery ({self.count_identities()} identities; "
                "see `lrface gallery list`)"
            )
        ident = row[0]
        sample_ids = [r[0] for r in self.conn.execute("SELECT id FROM samples WHERE identity_id = ?", (ident,))]
        self.conn.execute("DELETE FROM samples WHERE identity_id = ?", (ident,))
        self.conn.execute("DELETE FROM identities WHERE id = ?", (ident,))
        self._keys = None
        if self.kind == "hnsw":  # HNSW cannot delete: rebuild from the stored embeddings
            self._rebuild()
        else:
            self.index.remove_ids(np.asarray([ident] if self.template == "mean" else sample_ids, np.int64))
        self._edited()
        return len(sample_ids)

    # -- search --------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k distinct identities with cosine scores, per L2-normalised query."""
        return search_gallery(self, queries, k)
