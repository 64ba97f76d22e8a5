"""Margin heads (CosFace, ArcFace) against hand-computed logits, and how EKD's losses read them."""

import math

import pytest
import torch

from lrface.cli import main
from lrface.config import load_config
from lrface.distill import losses
from lrface.distill.strategy import build_strategy
from lrface.models import StreamOutput
from lrface.models.heads import CosineClassifier, margin_logits
from tests.conftest import TINY_TRAIN, make_identity_set, sets

FEATURE = torch.tensor([[3.0, 4.0]])  # normalised: (0.6, 0.8)
WEIGHT = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # normalised: e1, e2 -> cosines (0.6, 0.8)


def head(s=10.0):
    h = CosineClassifier(2, 2, s)
    with torch.no_grad():
        h.weight.copy_(WEIGHT)
    return h


def test_cosine_classifier_is_scaled_cosine():
    assert head()(FEATURE).tolist() == [pytest.approx([6.0, 8.0])]


def test_cosface_and_arcface_margins_by_hand():
    logits = head()(FEATURE)
    # CosFace: s (cos - m) on the true class only
    assert margin_logits(logits, torch.tensor([0]), "cosface", 10.0, 0.2).tolist() == [pytest.approx([4.0, 8.0])]
    # ArcFace: s cos(theta + m) = s (0.8 cos 0.5 - 0.6 sin 0.5) for class 1
    arc = 10 * (0.8 * math.cos(0.5) - 0.6 * math.sin(0.5))
    assert margin_logits(logits, torch.tensor([1]), "arcface", 10.0, 0.5).tolist() == [pytest.approx([6.0, arc])]
    assert arc == pytest.approx(4.1441, abs=1e-4)
    # past theta + m = pi ArcFace falls back to s (cos - m sin m)
    far = torch.tensor([[-9.5, 1.0]])
    out = margin_logits(far, torch.tensor([0]), "arcface", 10.0, 0.5)
    assert out[0, 0].item() == pytest.approx(10 * (-0.95 - 0.5 * math.sin(0.5)), rel=1e-5)
    assert margin_logits(logits, torch.tensor([0]), "softmax", 10.0, 0.2) is logits


def test_ce_uses_the_margin_and_kl_the_plain_cosine_logits():
    cfg = load_config(None, ["strategy=ekd", "head.type=cosface", "head.s=10", "head.m=0.2"])
    strategy = build_strategy(cfg)
    logits = head()(FEATURE)
    guided = torch.tensor([[7.0, 5.0]])
    out = StreamOutput(logits, FEATURE, [guided], [FEATURE], [FEATURE])
    parts = strategy.within_parts(out, torch.tensor([0]))
    # CE on (4, 8) for class 0 = log(1 + e^4); on the guided (7 - 2, 5) = log(1 + e^0)
    assert parts["ce"].item() == pytest.approx(math.log1p(math.exp(4.0)) + math.log(2.0), rel=1e-5)
    assert parts["within_kl"].item() == pytest.approx(losses.kl_t(logits, guided, 4.0).item(), rel=1e-6)


@pytest.mark.parametrize("kind", ["cosface", "arcface"])
def test_train_and_export_with_a_margin_head(tmp_path, kind):
    from lrface.engine.checkpoint import load_student
    from lrface.export import export_onnx

    data = make_identity_set(tmp_path / "faces")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "configs/face/orl-smoke.yaml",
                "--data",
                str(data),
                "--out",
                str(run),
                *TINY_TRAIN,
                *sets("train.epochs=1", f"head.type={kind}"),
            ]
        )
        == 0
    )
    model, meta = load_student(run)
    assert isinstance(model.fc, CosineClassifier) and meta["num_classes"] == 6
    assert export_onnx(run, log=lambda m: None).is_file()  # verified against torch inside
