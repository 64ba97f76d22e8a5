"""One EKD step (Algorithm 1): both streams updated, each paper term as its equation computes it, the student's
cross-stream terms from the teacher's pre-update outputs, one teacher forward per batch."""

import copy

import numpy as np
import pytest
import torch

from lrface.distill import losses
from lrface.engine.trainer import Trainer
from tests.test_engine import changed, first_step, params, tiny_cfg, tiny_data


def one_step(cfg, tmp_path):
    torch.manual_seed(0)
    tr = Trainer(cfg, tiny_data(), tmp_path)
    images, labels = tr.data.splits["train"]
    x = tr.to_input(images[:8])
    before = {s: params(m) for s, m in tr.streams.items()}
    logs = tr.train_step({"teacher": x, "student": x}, torch.from_numpy(labels[:8]))
    after = {s: params(m) for s, m in tr.streams.items()}
    return before, after, logs


def test_ekd_step_updates_both_streams_and_logs_every_loss(tmp_path):
    before, after, logs = one_step(tiny_cfg(), tmp_path)
    assert changed(before["teacher"], after["teacher"]) and changed(before["student"], after["student"])
    for key in (
        "student_ce",
        "student_within_kl",
        "student_within_l2",
        "student_cross_kl",
        "student_cross_l2",
        "teacher_ce",
        "teacher_within_kl",
        "teacher_within_l2",
    ):
        assert key in logs and np.isfinite(float(logs[key]))
    assert "teacher_cross_kl" not in logs  # the indicator of Eq. 11 is on the student


def test_ekd_step_logs_each_paper_term_as_its_equation_computes_it(tmp_path):
    """Which output feeds which equation: every logged term of one EKD step equals Eq. 3, 4, 6, 7 or 9 (each tested
    by hand in test_losses) of the streams' outputs, recomputed from copies taken before the step (the student's
    cross terms read the teacher from before its update, as Algorithm 1 says); each stream's loss is their Eq. 11
    sum."""
    tr, x, y, logs, before = first_step(tmp_path)
    with torch.no_grad():
        t, s = before["teacher"](x["teacher"]), before["student"](x["student"])
    T, pairs = tr.cfg.loss.temperature, min(len(t.guided_logits), len(s.guided_logits))
    expected = {}
    for name, out in (("teacher", t), ("student", s)):
        expected[f"{name}_ce"] = losses.eq9_classification([out.logits, *out.guided_logits], y)
        expected[f"{name}_within_kl"] = losses.eq3_within_stream_kl(out.logits, out.guided_logits, T, "head")
        expected[f"{name}_within_l2"] = losses.eq4_within_stream_l2(out.feature, out.guided_regressed)
    expected["student_cross_kl"] = losses.eq6_cross_stream_kl(
        t.logits, s.logits, t.guided_logits[:pairs], s.guided_logits[:pairs], T, 1.0
    )
    expected["student_cross_l2"] = losses.eq7_cross_stream_l2(t.guided_features[:pairs], s.guided_features[:pairs])
    assert pairs > 0 and set(expected) == {k for k in logs if not k.startswith("loss_")}
    for key, value in expected.items():
        assert logs[key] == pytest.approx(float(value), rel=1e-5), key
    weights = tr.strategy.epoch_weights
    for name in ("teacher", "student"):
        total = sum(weights[k[len(name) + 1 :]] * v for k, v in logs.items() if k.startswith(f"{name}_"))
        assert logs[f"loss_{name}"] == pytest.approx(total, rel=1e-5)


def test_teacher_untouched_by_cross_stream_loss(tmp_path):
    _, low, _ = one_step(tiny_cfg("loss.cross_kl=0.0", "loss.cross_l2=0.0"), tmp_path / "a")
    _, high, _ = one_step(tiny_cfg("loss.cross_kl=50.0", "loss.cross_l2=50.0"), tmp_path / "b")
    assert not changed(low["teacher"], high["teacher"])
    assert changed(low["student"], high["student"])


def test_cross_stream_to_teacher_gives_teacher_the_mirrored_loss(tmp_path):
    _, low, _ = one_step(tiny_cfg("loss.cross_stream_to_teacher=true", "loss.cross_kl=0.0"), tmp_path / "a")
    _, high, logs = one_step(tiny_cfg("loss.cross_stream_to_teacher=true", "loss.cross_kl=50.0"), tmp_path / "b")
    assert "teacher_cross_kl" in logs
    assert changed(low["teacher"], high["teacher"])


@pytest.mark.parametrize("extra", [[], ["loss.cross_stream_to_teacher=true"]])
def test_one_teacher_forward_per_batch(tmp_path, extra):
    """Algorithm 1: the teacher runs once per batch; its outputs serve both its update and the student's."""
    tr = Trainer(tiny_cfg(*extra), tiny_data(), tmp_path)
    calls = {"teacher": 0, "student": 0}
    for s, runner in list(tr.runners.items()):

        def counted(x, s=s, runner=runner):
            calls[s] += 1
            return runner(x)

        tr.runners[s] = counted
    images, labels = tr.data.splits["train"]
    x = tr.to_input(images[:8])
    tr.train_step({"teacher": x, "student": x}, torch.from_numpy(labels[:8]))
    assert calls == {"teacher": 1, "student": 1}


def test_students_cross_stream_loss_uses_the_teachers_pre_update_outputs(tmp_path):
    """Step 2 of Algorithm 1 distils from the teacher outputs of step 1, computed before the teacher's update."""
    tr = Trainer(tiny_cfg("optim.lr=0.5"), tiny_data(), tmp_path)
    images, labels = tr.data.splits["train"]
    x, y = tr.to_input(images[:8]), torch.from_numpy(labels[:8])
    pre = copy.deepcopy(tr.streams["teacher"])
    seen = {}
    real = tr.strategy.stream_loss

    def spy(stream, out, lbl, other, *rest):
        if stream == "student":
            seen["teacher_logits"] = other.logits.clone()
        return real(stream, out, lbl, other, *rest)

    tr.strategy.stream_loss = spy
    tr.train_step({"teacher": x, "student": x}, y)
    post = copy.deepcopy(tr.streams["teacher"])
    with torch.no_grad():
        want, after = pre(x).logits, post(x).logits
    assert torch.allclose(seen["teacher_logits"], want, atol=1e-6)
    assert not torch.allclose(seen["teacher_logits"], after, atol=1e-3)  # the update did change the teacher
