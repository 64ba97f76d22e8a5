"""The spread-out term (distill/spread.py) against values computed by hand, and its place in the student's sum."""

import pytest
import torch
from test_engine import term_step, tiny_cfg, tiny_data

from lrface.config.load import config_from_dict
from lrface.distill.spread import spread_out_loss
from lrface.distill.strategy import build_strategy
from lrface.engine.trainer import Trainer
from lrface.errors import UserError

# d = 2, rows (1,0), (0,1), (1,1)/sqrt2 of people 0, 1, 0: the differing pairs' cosines are 0, 0, 1/sqrt2, 1/sqrt2,
# M1 = 0.35355, M2 = 0.25 < 1/d = 0.5, so L = M1^2 = 0.125
SPREAD_HINGE_OFF = 0.125
# d = 3, rows (1,0,0) and (4,3,0) (cosine 0.8) of two people: M1 = 0.8, M2 = 0.64, L = 0.64 + 0.64 - 1/3
SPREAD_HINGE_ON = 0.9466666666666667


def test_spread_out_loss_hand_computed():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert float(spread_out_loss(f, torch.tensor([0, 1, 0]))) == pytest.approx(SPREAD_HINGE_OFF, rel=1e-6)
    f = torch.tensor([[1.0, 0.0, 0.0], [4.0, 3.0, 0.0]])
    assert float(spread_out_loss(f, torch.tensor([3, 7]))) == pytest.approx(SPREAD_HINGE_ON, rel=1e-6)


def test_spread_out_loss_one_person_is_zero_and_gradient_pushes_strangers_apart():
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    assert float(spread_out_loss(f, torch.tensor([2, 2]))) == 0.0
    loss = spread_out_loss(f, torch.tensor([0, 1]))  # cosine 0.707 between two people
    loss.backward()
    stepped = (f - 0.1 * f.grad).detach()
    assert float(spread_out_loss(stepped, torch.tensor([0, 1]))) < loss.item()


def test_spread_in_the_students_sum_only_and_never_ramped():
    cfg = config_from_dict({"strategy": "ekd", "loss": {"spread": 2.0, "warmup_epochs": 10}})
    st = build_strategy(cfg)
    assert "spread" in st.terms("student") and "spread" not in st.terms("teacher")
    st.start_epoch(0)
    assert st.epoch_weights["spread"] == 2.0 and st.epoch_weights["within_kl"] == pytest.approx(0.1)
    assert "spread" in st.describe()
    off = build_strategy(config_from_dict({"strategy": "ekd"}))
    assert "spread" not in off.terms("student")


def test_a_step_with_spread_logs_it_and_a_student_less_strategy_refuses_it(tmp_path):
    tr = Trainer(tiny_cfg("loss.spread=1", "train.max_steps=1"), tiny_data(), tmp_path / "run")
    tr.fit()
    row = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert "student_spread" in row[0].split(",") and "teacher_spread" not in row[0]
    with pytest.raises(UserError, match="loss.spread shapes a student.s embeddings; strategy teacher-only"):
        tiny_cfg("strategy=teacher-only", "loss.spread=1")


def test_the_logged_spread_is_the_students_and_its_weight_times_it_joins_the_sum(tmp_path):
    """One seeded first step with and without the term: the logged value is spread_out_loss of the student's own embeddings
    of the batch (recomputed from a copy taken before the step), and the student's Eq. 11 sum grows by 1.5 times it."""
    _, x, y, on, before = term_step(tmp_path, "spread", 1.5, ["loss.spread=1.5"])
    with torch.no_grad():
        expected = float(spread_out_loss(before["student"](x["student"]).feature, y))
    assert on["student_spread"] == pytest.approx(expected, rel=1e-5) and "teacher_spread" not in on
