"""The embedding layer (models/base.py ``embedding_layer``): signed features, Eq. 4 through a regressor,
old checkpoints unchanged, export verified against torch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from serving_helpers import generated_faces, make_run

from lrface.engine.checkpoint import load_student
from lrface.errors import UserError
from lrface.export import export_onnx
from lrface.models import Stream, build_model
from lrface.models.stream import guided_positions
from lrface.preprocess import PreprocessSpec, preprocess


def test_pool_feature_is_non_negative_and_linear_bn_is_batch_standardised():
    torch.manual_seed(0)
    x = torch.randn(32, 3, 16, 16)
    _, pooled = build_model("sresnet18", num_classes=5)(x)
    _, embedded = build_model("sresnet18", num_classes=5, embedding="linear_bn")(x)
    assert pooled.min() >= 0  # after the last ReLU: every cosine between two faces is >= 0
    assert embedded.min() < 0
    # training mode: BatchNorm1d with its initial affine (1, 0) standardises each dimension over the batch
    torch.testing.assert_close(embedded.mean(0), torch.zeros(112), atol=1e-5, rtol=0)
    torch.testing.assert_close(embedded.var(0, unbiased=False), torch.ones(112), atol=1e-3, rtol=0)


def test_default_backbone_has_no_embedding_parameters():
    """Checkpoints written before the embedding layer load unchanged: the default adds no state."""
    plain = build_model("sresnet18", num_classes=180).state_dict()
    assert not [k for k in plain if k.startswith("embed.")]
    emb = build_model("sresnet18", num_classes=180, embedding="linear_bn").state_dict()
    assert {k for k in emb if k.startswith("embed.")} == {
        "embed.0.weight",
        "embed.1.weight",
        "embed.1.bias",
        "embed.1.running_mean",
        "embed.1.running_var",
        "embed.1.num_batches_tracked",
    }
    assert emb["embed.0.weight"].shape == (112, 112)


def test_embedded_stream_regresses_guided_features_even_at_equal_width():
    """The guided features are pooled after a ReLU; a signed target needs the Eq. 4 regressor."""
    for embedding, expect in (("pool", False), ("linear_bn", True)):
        bb = build_model("sresnet18", num_classes=7, embedding=embedding)
        stream = Stream(bb, 7, guided_positions(len(bb.blocks), 3), dim=bb.feature_dim, width=8)
        assert (stream.regressors is not None) == expect
        out = stream(torch.randn(4, 3, 16, 16))
        assert all(g.shape == (4, 112) for g in out.guided_regressed)


def test_unknown_embedding_is_a_user_error():
    with pytest.raises(UserError, match="embedding"):
        build_model("sresnet18", num_classes=3, embedding="mlp")


def test_export_of_an_embedded_student_matches_torch(tmp_path):
    images, labels = generated_faces(n_ids=4, per_id=6)
    names = [f"id{i}" for i in range(4)]
    run = make_run(tmp_path / "run", images, labels, names, steps=5, kwargs={"embedding": "linear_bn"})
    onnx_path = export_onnx(run, log=lambda m: None)
    model, meta = load_student(run)
    x = preprocess(images, PreprocessSpec.from_dict(meta["preprocess"]))
    emb, _ = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    with torch.no_grad():
        _, feat = model(torch.from_numpy(x))
    assert (emb < 0).any()
    np.testing.assert_allclose(emb, torch.nn.functional.normalize(feat, dim=1).numpy(), atol=1e-4)
