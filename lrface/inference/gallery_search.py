"""Top-k identity search over a :class:`~.gallery.Gallery`'s index (torch-free).

With ``template=all`` a vector is a sample, so the search widens until it has ``k`` distinct identities.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from ..errors import UserError
from .gallery_store import REBUILD, GalleryUnreadable
from .vector_index import ExactIP

FEW_QUERIES = 64
_FAISS_THREADS: int | None = None  # faiss's own thread count, before any search set it


def search_gallery(gallery, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """Top-k distinct identities with cosine scores, per L2-normalised query."""
    try:
        return _search_top_k(gallery, queries, k)
    except sqlite3.DatabaseError as e:  # a read-only gallery reads its metadata file lazily: damaged after opening
        root = gallery.root or "the gallery"
        detail = " ".join(str(e).split())[:160]
        raise GalleryUnreadable(
            f"{root}: its metadata cannot be read ({detail}); {REBUILD.format(root=root)}"
        ) from None


def _search_top_k(gallery, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    if gallery.index.ntotal == 0:
        raise UserError(f"{gallery.root or 'the gallery'} is empty; add identities with `lrface gallery add`")
    k = max(1, min(k, gallery.count_identities()))
    queries = np.ascontiguousarray(queries, np.float32)
    if isinstance(gallery.index, ExactIP):
        return _search(gallery, queries, k)
    import faiss

    global _FAISS_THREADS
    if _FAISS_THREADS is None:  # read once: concurrent searches must not restore each other's 1
        _FAISS_THREADS = faiss.omp_get_max_threads()
    if len(queries) < FEW_QUERIES:  # starting OpenMP threads costs more than a few queries take
        faiss.omp_set_num_threads(1)
    try:
        return _search(gallery, queries, k)
    finally:
        faiss.omp_set_num_threads(_FAISS_THREADS)


def _search(gallery, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    index = gallery.index
    if gallery.template == "mean":
        scores, ids = _checked(gallery, *index.search(queries, k))
        names = _names(gallery, ids)
        return [[(names[i], float(s)) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, ids)]
    results: list[list[tuple[str, float]] | None] = [None] * len(queries)
    todo, ks = np.arange(len(queries)), min(index.ntotal, 4 * k)
    while len(todo):
        scores, ids = _checked(gallery, *index.search(queries[todo], ks))
        names = _names(gallery, ids)
        again = []
        for q, srow, irow in zip(todo, scores, ids):
            best: dict[str, float] = {}
            for s, i in zip(srow, irow):
                if i >= 0 and names[i] not in best:
                    best[names[i]] = float(s)
            if len(best) >= k or ks >= index.ntotal:
                results[q] = list(best.items())[:k]
            else:
                again.append(q)
        todo, ks = np.asarray(again, np.int64), min(index.ntotal, ks * 4)
    return results


def _checked(gallery, scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of a search, equal scores ordered by id (so answers do not depend on the index kind or
    on k), or GalleryUnreadable when a found score is not a cosine (NaN, infinite or beyond [-1, 1]): the
    gallery's stored vectors were tampered with and any answer would be silently wrong."""
    found = scores[ids >= 0]
    if not (np.abs(found) <= 1.0 + 1e-3).all():  # False for NaN too
        root = gallery.root or "the gallery"
        raise GalleryUnreadable(
            f"{root}: damaged gallery vectors (a search score of {found[~(np.abs(found) <= 1.0 + 1e-3)][0]:.4g} is "
            f"not a cosine similarity); {REBUILD.format(root=root)}"
        )
    order = np.lexsort((ids, -scores), axis=1)  # FAISS's "none found" (-1) rows hold its lowest score: last
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def _names(gallery, ids: np.ndarray) -> dict[int, str]:
    """Identity name per vector id found (``ids`` as FAISS returns them, -1 = none)."""
    ids = sorted(set(ids[ids >= 0].tolist()))  # not np.unique: it imports numpy.ma (~30 ms)
    sql = (
        "SELECT id, name FROM identities WHERE id IN ({})"
        if gallery.template == "mean"
        else "SELECT s.id, i.name FROM samples s JOIN identities i ON i.id = s.identity_id WHERE s.id IN ({})"
    )
    out = {}
    for j in range(0, len(ids), 900):
        chunk = ids[j : j + 900]
        out.update(gallery.conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
    if not all(isinstance(n, str) for n in out.values()) or len(out) < len(ids):
        root = gallery.root or "the gallery"
        raise GalleryUnreadable(
            f"{root}: damaged gallery metadata (identity names missing or not text); {REBUILD.format(root=root)}"
        )
    return out
