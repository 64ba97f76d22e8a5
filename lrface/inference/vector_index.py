"""Vector indexes of a gallery: FAISS index construction and parameters, and the exact numpy search
that read-only flat galleries use instead of FAISS (torch-free; FAISS is imported only when used)."""

from __future__ import annotations

import math
import os
import threading

import numpy as np

from ..errors import UserError

INDEX_TYPES = ("flat", "ivf", "hnsw")


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


def fill_index(index, kind: str, vectors: np.ndarray, ids: np.ndarray, seed: int = 0) -> None:
    """Train (IVF, on at most 64 x nlist vectors) and add vectors with their ids."""
    if kind == "ivf" and not index.is_trained:
        rng = np.random.default_rng(seed)
        n_train = 64 * index.nlist
        sample = vectors if len(vectors) <= n_train else vectors[rng.choice(len(vectors), n_train, replace=False)]
        index.cp.min_points_per_centroid = 1  # small galleries: no FAISS warning on stderr (the one-line rule)
        index.train(np.ascontiguousarray(sample, np.float32))
    if len(vectors):
        index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))


def faiss_id_map(index) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map)


def normalise(v: np.ndarray) -> np.ndarray:
    """L2-normalise along the last axis (float32)."""
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class ExactIP:
    """Read-only exact inner-product search over a flat gallery's saved vectors (IndexFlatIP's results)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        self.ids, self.vectors = ids, vectors
        self.ntotal, self.d = vectors.shape

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), N x k, best first. Blocks of queries run on up to 4 threads: the matrix
        product and the partial sort release the GIL, and numpy's BLAS runs on one thread here."""
        k = min(k, self.ntotal)
        step = max(
            1,
            min(
                (1 << 24) // max(self.ntotal, 1),  # at most 16M scores (64 MB) per block
                -(-len(queries) // min(4, os.cpu_count() or 1)),
            ),
        )
        blocks = [queries[i : i + step] for i in range(0, len(queries), step)] or [queries]
        if len(blocks) == 1:
            parts = [self._block(blocks[0], k)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(4, len(blocks))) as pool:
                parts = list(pool.map(lambda b: self._block(b, k), blocks))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _block(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best first; equal scores by id, and a tie at the k-th place goes to the lowest ids (IndexFlatIP
        keeps the earliest-added too), so the top k is always the first k of any longer top list."""
        scores = queries @ self.vectors.T
        if k < self.ntotal:
            top = np.argpartition(scores, self.ntotal - k, axis=1)[:, self.ntotal - k :]
            top_scores = np.take_along_axis(scores, top, axis=1)
            kth = top_scores.min(axis=1, keepdims=True)
            cut = ((scores == kth).sum(axis=1) > (top_scores == kth).sum(axis=1)).nonzero()[0]
            for r in cut:  # rare: argpartition chose among the tied k-th scores arbitrarily
                cand = (scores[r] >= kth[r]).nonzero()[0]
                top[r] = cand[np.lexsort((self.ids[cand], -scores[r, cand]))[:k]]
                top_scores[r] = scores[r, top[r]]
        else:
            top = np.broadcast_to(np.arange(self.ntotal), scores.shape)
            top_scores = scores
        ids = self.ids[top]
        order = np.lexsort((ids, -top_scores), axis=1)
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


_NPZ_LOCK = threading.Lock()


def read_exact(path) -> ExactIP:
    # one reader at a time: np.load parses headers with ast.literal_eval, whose recursion check CPython 3.11
    # keeps in shared state, so two threads parsing at once can fail with "AST constructor recursion depth"
    with _NPZ_LOCK, np.load(path, allow_pickle=False) as z:
        return ExactIP(np.asarray(z["ids"], np.int64), np.ascontiguousarray(z["vectors"], np.float32))
