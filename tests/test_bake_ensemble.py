"""tools/bake_ensemble.py: one ONNX model whose cosine is the mean of its two members' cosines."""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from lrface.inference.embedder import Embedder
from lrface.pretrained import resolve_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import bake_ensemble  # noqa: E402


def test_the_ensemble_scores_the_mean_of_its_members_cosines(tmp_path):
    first, second = Path(resolve_model("sr18-celeba-x2hs")), Path(resolve_model("sr18-celeba-x2"))
    bake_ensemble.bake(first, second, tmp_path / "duo.onnx")
    faces = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    duo, a, b = (Embedder(p) for p in (tmp_path / "duo.onnx", first, second))
    e, ea, eb = (m.embed(faces) for m in (duo, a, b))
    assert duo.dim == a.dim + b.dim and e.shape == (40, a.dim + b.dim)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e @ e.T, (ea @ ea.T + eb @ eb.T) / 2, atol=1e-5)
    # a gallery never mixes it with a member; the metadata names both
    assert duo.fingerprint not in (a.fingerprint, b.fingerprint)
    members = json.loads(duo.metadata["lrface.ensemble"])
    assert [m["fingerprint"] for m in members] == [a.fingerprint, b.fingerprint]


def test_members_with_different_preprocessing_are_refused(tmp_path):
    first = Path(resolve_model("sr18-celeba-x2"))
    m = onnx.load(str(first))
    for p in m.metadata_props:
        if p.key == "lrface.mean":
            p.value = "[0.4, 0.4, 0.4]"
    onnx.save(m, str(tmp_path / "other.onnx"))
    with pytest.raises(SystemExit, match="lrface.mean differs"):
        bake_ensemble.bake(first, tmp_path / "other.onnx", tmp_path / "duo.onnx")
    assert not (tmp_path / "duo.onnx").exists()
