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


@pytest.mark.parametrize(
    "names", [["sr18-celeba-x2hs", "sr18-celeba-x2"], ["sr18-celeba-x2", "sr18-celeba-ekd", "sr18-celeba-hr"]]
)
def test_the_ensemble_scores_the_mean_of_its_members_cosines(tmp_path, names):
    paths = [Path(resolve_model(n)) for n in names]
    bake_ensemble.bake(paths, tmp_path / "joint.onnx")
    faces = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    joint, members = Embedder(tmp_path / "joint.onnx"), [Embedder(p) for p in paths]
    e, parts = joint.embed(faces), [m.embed(faces) for m in members]
    assert joint.dim == sum(m.dim for m in members) and e.shape == (40, joint.dim)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e @ e.T, sum(p @ p.T for p in parts) / len(parts), atol=1e-5)
    # a gallery never mixes it with a member; the metadata names every member
    assert joint.fingerprint not in [m.fingerprint for m in members]
    recorded = json.loads(joint.metadata["lrface.ensemble"])
    assert [r["fingerprint"] for r in recorded] == [m.fingerprint for m in members]
    assert [r["member"] for r in recorded] == names
    assert [r["lrface.epoch"] for r in recorded] == [m.metadata["lrface.epoch"] for m in members]
    epochs = {m.metadata["lrface.epoch"] for m in members}
    assert joint.metadata.get("lrface.epoch") == (epochs.pop() if len(epochs) == 1 else None)


def test_members_with_different_preprocessing_are_refused(tmp_path):
    first = Path(resolve_model("sr18-celeba-x2"))
    m = onnx.load(str(first))
    for p in m.metadata_props:
        if p.key == "lrface.mean":
            p.value = "[0.4, 0.4, 0.4]"
    onnx.save(m, str(tmp_path / "other.onnx"))
    with pytest.raises(SystemExit, match="lrface.mean differs"):
        bake_ensemble.bake([first, tmp_path / "other.onnx"], tmp_path / "duo.onnx")
    assert not (tmp_path / "duo.onnx").exists()
