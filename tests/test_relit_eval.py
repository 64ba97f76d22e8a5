"""tools/relit_eval.py: the relit validation's relighting is seeded and strong, its protocol hand-checked."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("relit_eval", ROOT / "tools" / "relit_eval.py")
relit_eval = importlib.util.module_from_spec(spec)
spec.loader.exec_module(relit_eval)


def test_relighting_is_seeded_and_darkens_one_side():
    faces = np.full((20, 16, 16, 3), 160, np.uint8)
    a = relit_eval.relight_all(faces, seed=0)
    np.testing.assert_array_equal(a, relit_eval.relight_all(faces, seed=0))
    assert not np.array_equal(a, relit_eval.relight_all(faces, seed=1))
    for im in a.astype(np.float32) / 160:
        left, right = im[:, :4].mean(), im[:, -4:].mean()
        dark, lit = min(left, right), max(left, right)
        assert dark < 0.35 and lit > 0.7  # shadow side at 15-35 % (then gamma), the lit side near full
        assert np.all(im[..., 0] == im[..., 1])  # colour kept: the same factor on every channel


def test_split_and_top1_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])  # identity 2 has one face: left out
    gal, probe = relit_eval.split_half(labels)
    assert list(gal) == [0, 1, 3] and list(probe) == [2, 4]
    emb = np.array([[1, 0], [1, 0.2], [0.1, 1], [0, 1], [0.9, 0.1], [5, 5]], np.float32)
    # probe 2 (id 0) lies nearer id 1's template, probe 4 (id 1) nearer id 0's: 0 % right
    assert relit_eval.top1(emb[gal], labels[gal], emb[probe], labels[probe]) == 0.0
    assert relit_eval.top1(emb[gal], labels[gal], emb[gal], labels[gal]) == 100.0


def test_raw_pixels_are_unit_grey_vectors():
    faces = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    v = relit_eval.raw_pixels(faces)
    assert v.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-5)
    grey = faces.astype(np.float32).mean(-1).reshape(3, -1)
    np.testing.assert_allclose(v, grey / np.linalg.norm(grey, axis=1, keepdims=True), rtol=1e-5)
