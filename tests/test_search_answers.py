"""A search's answer depends only on the scores: raw (unnormalised) query vectors are compared by
direction, a zero vector is refused, and exact ties are ordered by id the same way for every index kind
and every k, so a top-1 is always the first entry of a longer top list."""

from __future__ import annotations

import numpy as np
import pytest

import lrface
from lrface.errors import UserError
from lrface.inference.vector_index import ExactIP


def test_exact_search_breaks_ties_by_id_and_keeps_top_k_a_prefix():
    v = np.zeros((8, 4), np.float32)
    v[:, 0] = 1.0
    v[5] = [0.0, 1.0, 0.0, 0.0]  # one vector away from the tied seven
    ids = np.array([70, 60, 50, 40, 30, 20, 10, 0], np.int64)  # ids against the stored order
    index = ExactIP(ids, v)
    q = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)
    tops = {k: index.search(q, k)[1][0].tolist() for k in (1, 2, 3, 7, 8)}
    assert tops[8] == [0, 10, 30, 40, 50, 60, 70, 20]  # the tied seven by id, then the other vector
    for k, top in tops.items():
        assert top == tops[8][:k]


@pytest.mark.parametrize("template", ["mean", "all"])
def test_tied_identities_get_one_answer_from_every_index_kind(tiny, tmp_path, template):
    from lrface.inference.gallery import Gallery

    recognizer = lrface.Recognizer(tiny[1])
    e = np.zeros((1, recognizer.embedder.dim), np.float32)
    e[0, 0] = 1.0
    core = Gallery.new(recognizer.embedder, template)
    names = ["p3", "p1", "p4", "p0", "p2"]  # enrolled in this order, so ids do not follow the names
    for i, n in enumerate(names):  # one vector under five names (near-duplicate photos): five equal scores
        core.add(n, [f"{n}.png"], [f"hash{i}"], e)
    core.save(tmp_path / "g")
    exact, with_faiss = Gallery.open(tmp_path / "g"), Gallery.open(tmp_path / "g", writable=True)
    assert isinstance(exact.index, ExactIP) and not isinstance(with_faiss.index, ExactIP)
    for core in (exact, with_faiss):
        for k in (1, 3, 5):
            assert [n for n, _ in core.search(e, k)[0]] == names[:k]  # equal scores in enrolment (id) order


def test_queries_are_compared_by_direction_and_a_zero_vector_is_refused(tiny, faces, tmp_path):
    gal, _ = faces
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    g.add_many({n: sorted((gal / n).glob("*.png"))[:2] for n in ("Ann Lee", "Bob", "d")})
    q = lrface.Recognizer(tiny[1]).embed([sorted((gal / "Bob").glob("*.png"))[2]])
    plain = g.search(q, top_k=2, threshold=0.5)[0]
    for scale in (0.5, 2.0):  # a shorter vector used to fall below the threshold; a longer one read as damage
        scaled = g.search(q * scale, top_k=2, threshold=0.5)[0]
        assert scaled.identity == plain.identity == "Bob"
        assert [m.score for m in scaled.matches] == pytest.approx([m.score for m in plain.matches], abs=1e-6)
    with pytest.raises(UserError, match="embedding 1 is all zeros"):
        g.search(np.concatenate([q, np.zeros_like(q)]))
