"""Registry, streamlined student size, output shapes with and without guided modules."""

import pytest
import torch

from lrface.errors import UserError
from lrface.models import Stream, build_model, list_models
from lrface.models.stream import guided_positions


def test_streamlined_student_has_061m_parameters_at_180_classes():
    n = sum(p.numel() for p in build_model("sresnet18", num_classes=180).parameters())
    assert n == 606_436
    assert abs(n - 610_000) / 610_000 <= 0.05


# the heavy classification backbones are covered by tests/test_classification_models.py
LIGHT = [m for m in list_models() if m not in ("wide_resnet50_2", "resnet101", "vgg19_bn", "vgg16_bn", "resnet110")]


@pytest.mark.parametrize("name", LIGHT)
@pytest.mark.parametrize("count", [0, 1, 2])
def test_every_registered_model_shapes(name, count):
    size = 32 if name.startswith(("vgg", "shufflenet")) else 16
    torch.manual_seed(0)
    bb = build_model(name, num_classes=7)
    n_blocks = len(bb.blocks)
    count = min(count, n_blocks - 1)
    stream = Stream(bb, 7, guided_positions(n_blocks, count), dim=24, width=8).eval()
    with torch.no_grad():
        out = stream(torch.randn(2, 3, size, size))
        logits, feat = bb(torch.randn(2, 3, size, size))
    assert out.logits.shape == (2, 7) and out.feature.shape == (2, bb.feature_dim)
    assert logits.shape == (2, 7) and feat.shape == (2, bb.feature_dim)
    assert len(out.guided_logits) == count
    for gl, gf, gr in zip(out.guided_logits, out.guided_features, out.guided_regressed):
        assert gl.shape == (2, 7) and gf.shape == (2, 24) and gr.shape == (2, bb.feature_dim)
    assert (stream.regressors is not None) == (count > 0 and bb.feature_dim != 24)


def test_guided_positions_deepest_by_default_and_explicit():
    assert guided_positions(4, 3) == [0, 1, 2]
    assert guided_positions(4, 1) == [2]
    assert guided_positions(4, 0) == []
    assert guided_positions(4, 1, [1]) == [0]


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown model"):
        build_model("resnet5", num_classes=3)


def test_last_stride_one_keeps_parameters_and_the_last_map_size():
    plain, kept = (build_model("sresnet18", num_classes=180, last_stride=s) for s in (2, 1))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(kept) == count(plain) == 606_436
    with torch.no_grad():
        maps = kept.eval().forward_blocks(torch.zeros(1, 3, 16, 16))
    assert [tuple(m.shape[2:]) for m in maps] == [(16, 16), (8, 8), (4, 4), (4, 4)]
    assert kept.block_strides == [1, 2, 2, 1] and plain.block_strides == [1, 2, 2, 2]
    # guided modules stride down to the last block's 4x4: one fewer strided conv after each block
    strided = lambda s: sum(c.stride == (2, 2) for g in s.guided for c in g.modules() if isinstance(c, torch.nn.Conv2d))  # noqa: E731
    assert strided(Stream(kept, 180, [0, 1, 2], dim=24)) == 2 + 1 + 0
    assert strided(Stream(plain, 180, [0, 1, 2], dim=24)) == 3 + 2 + 1


def test_bad_last_stride_is_a_user_error():
    with pytest.raises(UserError, match="last_stride must be 1 or 2"):
        build_model("sresnet18", num_classes=3, last_stride=3)
