"""Each EKD loss against values computed by hand (plain-math softmax/KL/CE, stored as constants)."""

import pytest
import torch

from lrface.distill import losses

T_LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
S_LOGITS = torch.tensor([[0.0, 1.0, 0.0], [1.0, -1.0, 0.5]])
G_LOGITS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
LABELS = torch.tensor([0, 2])

# sum_i p_i log(p_i / q_i) with p = softmax(t / T), q = softmax(s / T), times T^2, batch mean
KL_T4_TS = 0.7575718739534947
KL_T1_TS = 0.638611595947921
KL_T4_TG = 0.5204413439658285  # head t teaches guided g
KL_T4_SG = 0.4853497484182465  # deeper guided s teaches guided g
CE_T, CE_S, CE_G = 0.8139330537516597, 1.3032008167870208, 0.3954947400769678


def test_kl_with_temperature_scaling():
    assert float(losses.kl_t(T_LOGITS, S_LOGITS, 4.0)) == pytest.approx(KL_T4_TS, rel=1e-5)
    assert float(losses.kl_t(T_LOGITS, S_LOGITS, 1.0)) == pytest.approx(KL_T1_TS, rel=1e-5)


def test_eq3_within_stream_kl_head_and_all_deeper():
    # guided classifiers shallow -> deep: [G, S]; head T teaches both; all_deeper adds S -> G
    head = losses.eq3_within_stream_kl(T_LOGITS, [G_LOGITS, S_LOGITS], 4.0, "head")
    assert float(head) == pytest.approx(KL_T4_TG + KL_T4_TS, rel=1e-5)
    deeper = losses.eq3_within_stream_kl(T_LOGITS, [G_LOGITS, S_LOGITS], 4.0, "all_deeper")
    assert float(deeper) == pytest.approx(KL_T4_TG + KL_T4_TS + KL_T4_SG, rel=1e-5)


def test_eq4_within_stream_l2_is_mse_to_detached_feature():
    feat = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    g1 = torch.tensor([[1.0, 0.0], [3.0, 1.0]], requires_grad=True)  # squared errors 0,4,0,9 -> 13/4
    g2 = torch.tensor([[2.0, 2.0], [3.0, 4.0]], requires_grad=True)  # 1,0,0,0 -> 1/4
    loss = losses.eq4_within_stream_l2(feat, [g1, g2])
    assert loss.item() == pytest.approx(13 / 4 + 1 / 4)
    loss.backward()
    assert feat.grad is None and g1.grad is not None


def test_eq4_and_eq7_squared_norm_reduction_is_the_papers_sum_over_the_feature_dimension():
    feat = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    g1 = torch.tensor([[1.0, 0.0], [3.0, 1.0]])  # per sample ||.||^2: 0+4=4, 0+9=9 -> batch mean 6.5
    g2 = torch.tensor([[2.0, 2.0], [3.0, 4.0]])  # 1, 0 -> 0.5
    assert float(losses.eq4_within_stream_l2(feat, [g1, g2], "squared_norm")) == pytest.approx(7.0)
    t = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]])]
    s = [torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0, 3.0]])]  # 1+9=10, 0+4=4
    assert float(losses.eq7_cross_stream_l2(t, s, "squared_norm")) == pytest.approx(14.0)
    with pytest.raises(ValueError):
        losses.l2(feat, feat, "sum")


def test_eq6_cross_stream_kl_heads_plus_guided_pairs():
    loss = losses.eq6_cross_stream_kl(T_LOGITS, S_LOGITS, [T_LOGITS], [G_LOGITS], 4.0)
    assert loss.item() == pytest.approx(KL_T4_TS + KL_T4_TG, rel=1e-5)
    half = losses.eq6_cross_stream_kl(T_LOGITS, S_LOGITS, [T_LOGITS], [G_LOGITS], 4.0, pair_weight=0.5)
    assert float(half) == pytest.approx(KL_T4_TS + 0.5 * KL_T4_TG, rel=1e-5)


def test_eq7_cross_stream_l2_pairs_and_teacher_detached():
    t = [torch.tensor([[0.0, 0.0]], requires_grad=True), torch.tensor([[1.0, 1.0]], requires_grad=True)]
    s = [torch.tensor([[1.0, 3.0]], requires_grad=True), torch.tensor([[1.0, 3.0]], requires_grad=True)]
    loss = losses.eq7_cross_stream_l2(t, s)
    assert loss.item() == pytest.approx((1 + 9) / 2 + (0 + 4) / 2)
    loss.backward()
    assert t[0].grad is None and s[0].grad is not None


def test_eq9_classification_sums_every_classifier():
    loss = losses.eq9_classification([T_LOGITS, S_LOGITS, G_LOGITS], LABELS)
    assert loss.item() == pytest.approx(CE_T + CE_S + CE_G, rel=1e-6)


def test_eq11_weights_each_term():
    parts = {"ce": torch.tensor(2.0), "within_kl": torch.tensor(3.0), "cross_l2": torch.tensor(5.0)}
    w = {"ce": 1.0, "within_kl": 0.5, "within_l2": 9.0, "cross_kl": 9.0, "cross_l2": 0.1}
    assert float(losses.eq11_stream_loss(parts, w)) == pytest.approx(2 + 1.5 + 0.5)


def test_kl_gradient_reaches_student_only():
    t = T_LOGITS.clone().requires_grad_(True)
    s = S_LOGITS.clone().requires_grad_(True)
    losses.kl_t(t, s, 4.0).backward()
    assert t.grad is None and s.grad.abs().sum() > 0
