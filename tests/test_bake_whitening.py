"""tools/bake_whitening.py: the baked ONNX graph computes flip average + (x - mean) @ W + L2 norm as numpy does."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lrface.evaluation.whitening import Whitening, apply_whitening
from lrface.inference.embedder import Embedder

pytest.importorskip("onnx")
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "lrface" / "pretrained" / "sr18-celeba-ekd60.onnx"
spec = importlib.util.spec_from_file_location("bake_whitening", ROOT / "tools" / "bake_whitening.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.mark.parametrize("flip", [False, True])
def test_baked_graph_matches_numpy(tmp_path, flip):
    rng = np.random.default_rng(0)
    w = Whitening(rng.normal(size=112) * 0.1, rng.normal(size=(112, 8)))
    out = tmp_path / "baked.onnx"
    tool.bake(MODEL, out, w.mean, w.matrix, flip, "test")
    images = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    plain = Embedder(MODEL)
    x = plain.embed(images).astype(np.float64)
    if flip:
        x = x + plain.embed(np.ascontiguousarray(images[:, :, ::-1]))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    baked = Embedder(out)
    assert baked.dim == 8 and baked.fingerprint != plain.fingerprint
    np.testing.assert_allclose(baked.embed(images), apply_whitening(x, w), atol=1e-5)
    logits = baked.session.run(["logits"], {"image": np.zeros((3, 3, 16, 16), np.float32)})[0]
    assert logits.shape == (3, 565)
