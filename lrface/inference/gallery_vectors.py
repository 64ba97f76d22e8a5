"""The gallery's vectors kept in step with its SQLite samples (torch-free): identity means or every sample,
the FAISS index rebuilt or updated in place (:class:`GalleryVectors`, a base of :class:`.gallery.Gallery`)."""

from __future__ import annotations

import json

import numpy as np

from .gallery_store import embeddings_from_blobs
from .vector_index import apply_search_params, default_index_params, faiss_id_map, fill_index, new_index, normalise


class GalleryVectors:
    """What :class:`.gallery.Gallery` searches: ``template=mean`` one L2-normalised mean per identity id,
    ``template=all`` every sample by sample id. Needs ``conn``, ``index``, ``info``, ``root``, ``dim``, ``kind``,
    ``params``, ``template`` and ``_deferred`` from the gallery."""

    def _identity_mean(self, ident: int) -> np.ndarray:
        blobs = [b for (b,) in self.conn.execute("SELECT embedding FROM samples WHERE identity_id = ?", (ident,))]
        return np.mean(embeddings_from_blobs(blobs, self.dim, self.root), axis=0)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self.template == "mean":
            ids = [r[0] for r in self.conn.execute("SELECT id FROM identities ORDER BY id")]
            vecs = [normalise(self._identity_mean(i)) for i in ids]
        else:
            rows = self.conn.execute("SELECT id, embedding FROM samples ORDER BY id").fetchall()
            ids, vecs = (
                [r[0] for r in rows],
                normalise(embeddings_from_blobs([r[1] for r in rows], self.dim, self.root)),
            )
        return np.asarray(ids, np.int64), (np.stack(vecs) if len(vecs) else np.zeros((0, self.dim), np.float32))

    def sample_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(identity id per sample, L2-normalised sample embeddings), by sample id."""
        rows = self.conn.execute("SELECT identity_id, embedding FROM samples ORDER BY id").fetchall()
        vecs = normalise(embeddings_from_blobs([r[1] for r in rows], self.dim, self.root))
        return np.asarray([r[0] for r in rows], np.int64), vecs

    def template_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(identity id per searched vector, the vectors): identity means or every sample, by template."""
        if self.template == "mean":
            return self._all_vectors()
        return self.sample_vectors()

    def _rebuild(self) -> None:
        ids, vecs = self._all_vectors()
        if self.kind == "ivf":  # nlist follows the gallery size; keep the chosen nprobe (at most nlist)
            fresh = default_index_params("ivf", len(ids))
            self.info["index_params"] = {
                **fresh,
                "nprobe": min(fresh["nlist"], self.params.get("nprobe", fresh["nprobe"])),
            }
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
