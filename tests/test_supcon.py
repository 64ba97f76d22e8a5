"""The supervised contrastive term (distill/supcon.py) against values computed by hand, and its config checks."""

import pytest
import torch
from test_engine import term_step, tiny_cfg, tiny_data

from lrface.distill.strategy import build_strategy
from lrface.distill.supcon import supcon_loss
from lrface.engine.trainer import Trainer
from lrface.errors import UserError

# rows a = (1,0), b = (0,1) of person 0 and c = (1,0) of person 1; cosines ab 0, ac 1, bc 0; c has no positive.
# tau 1: anchor a -log(e^0 / (e^0 + e^1)) = log(1 + e), anchor b -log(e^0 / (e^0 + e^0)) = log 2; mean of the two
SUPCON_TAU1 = 1.003204434039084
SUPCON_TAU05 = 1.4100375958014588  # (log(1 + e^2) + log 2) / 2
ROWS = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]])  # lengths do not matter
LABELS = torch.tensor([0, 0, 1])


def test_supcon_loss_hand_computed():
    assert float(supcon_loss(ROWS, LABELS, 1.0)) == pytest.approx(SUPCON_TAU1, rel=1e-6)
    assert float(supcon_loss(ROWS, LABELS, 0.5)) == pytest.approx(SUPCON_TAU05, rel=1e-6)


def test_supcon_loss_without_a_repeated_person_is_zero_and_its_gradient_pulls_a_person_together():
    assert float(supcon_loss(ROWS, torch.tensor([0, 1, 2]), 0.1)) == 0.0
    f = ROWS.clone().requires_grad_(True)
    loss = supcon_loss(f, LABELS, 0.5)
    loss.backward()
    stepped = (f - 0.1 * f.grad).detach()
    assert float(supcon_loss(stepped, LABELS, 0.5)) < loss.item()


def test_supcon_in_the_students_sum_only_needs_identity_batches_and_logs(tmp_path):
    st = build_strategy(tiny_cfg("loss.supcon=1", "train.per_identity=2"))
    assert "supcon" in st.terms("student") and "supcon" not in st.terms("teacher")
    assert "supcon" in st.describe()
    with pytest.raises(UserError, match="loss.supcon needs batches with several faces per person"):
        tiny_cfg("loss.supcon=1")
    with pytest.raises(UserError, match="config key loss.supcon_tau: 0 must be a finite number > 0"):
        tiny_cfg("loss.supcon=1", "train.per_identity=2", "loss.supcon_tau=0")
    with pytest.raises(UserError, match="loss.supcon shapes a student's embeddings; strategy teacher-only"):
        tiny_cfg("strategy=teacher-only", "loss.supcon=1", "train.per_identity=2")
    tr = Trainer(tiny_cfg("loss.supcon=1", "train.per_identity=2", "train.max_steps=1"), tiny_data(), tmp_path / "r")
    tr.fit()
    assert "student_supcon" in (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0].split(",")


def test_the_logged_supcon_is_the_students_and_its_weight_times_it_joins_the_sum(tmp_path):
    """One seeded first step with and without the term: the logged value is supcon_loss of the student's own embeddings
    of the batch (recomputed from a copy taken before the step), and the student's Eq. 11 sum grows by 2.0 times it."""
    _, x, y, on, before = term_step(tmp_path, "supcon", 2.0, ["loss.supcon=2.0"], ["train.per_identity=2"])
    with torch.no_grad():
        expected = float(supcon_loss(before["student"](x["student"]).feature, y, 0.1))
    assert on["student_supcon"] == pytest.approx(expected, rel=1e-5) and "teacher_supcon" not in on
