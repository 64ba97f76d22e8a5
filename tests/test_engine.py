"""One EKD step, strategies, the capability gap, bit-exact resume, NaN handling."""

import copy
import csv

import numpy as np
import pytest
import torch

from lrface.config import load_config
from lrface.data.sources import DataBundle
from lrface.distill import losses
from lrface.engine.checkpoint import load_checkpoint, load_student
from lrface.engine.trainer import Trainer
from lrface.errors import UserError


def tiny_cfg(*overrides):
    return load_config(
        None,
        [
            "teacher.arch=resnet_tiny",
            "student.arch=resnet_tiny",
            "guided.width=8",
            "train.batch_size=8",
            "train.epochs=2",
            "augment.enabled=false",
            *overrides,
        ],
    )


def tiny_data(n_classes=3, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    images = (rng.integers(0, 60, (len(labels), 16, 16, 3)) + 60 * labels[:, None, None, None]).astype(np.uint8)
    return DataBundle(
        [f"c{i}" for i in range(n_classes)], {"train": (images, labels), "test": (images[::2], labels[::2])}
    )


def first_step(run_dir, *overrides):
    """(trainer, its first batch's inputs and labels, that step's logs as floats, copies of the streams as they were
    before the step): one step of
    ``tiny_cfg(*overrides)`` at epoch 0, seeded, so two calls differing only in a term's key can be subtracted."""
    from lrface.engine.batches import train_batches

    torch.manual_seed(0)
    tr = Trainer(tiny_cfg(*overrides), tiny_data(), run_dir / str(len(overrides)))
    for m in tr.streams.values():
        m.train()
    tr.strategy.start_epoch(0)
    x, y, idx = next(train_batches(tr, 1))
    before = {s: copy.deepcopy(m) for s, m in tr.streams.items()}
    logs = {k: float(v) for k, v in tr.train_step(x, y, idx).items()}
    return tr, x, y, logs, before


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def resume(cfg, run_dir, data=None):
    """A Trainer on ``cfg`` resumed from ``run_dir``'s last checkpoint and trained to ``cfg``'s last epoch."""
    tr = Trainer(cfg, tiny_data() if data is None else data, run_dir)
    tr.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "last.pt"))
    tr.fit()
    return tr


def assert_same_streams(a, b, names=None):
    """The named streams (all of ``a``'s by default) hold bit-identical weights and buffers in both Trainers."""
    for s in names or a.streams:
        pa, pb = params(a.streams[s]), params(b.streams[s])
        assert all(torch.equal(pa[k], pb[k]) for k in pa), s


def one_step(cfg, tmp_path):
    torch.manual_seed(0)
    tr = Trainer(cfg, tiny_data(), tmp_path)
    images, labels = tr.data.splits["train"]
    x = tr.to_input(images[:8])
    before = {s: params(m) for s, m in tr.streams.items()}
    logs = tr.train_step({"teacher": x, "student": x}, torch.from_numpy(labels[:8]))
    after = {s: params(m) for s, m in tr.streams.items()}
    return before, after, logs


def changed(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


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


@pytest.mark.parametrize(
    "strategy,streams,trained",
    [
        ("student-only", {"student"}, {"student"}),
        ("teacher-only", {"teacher"}, {"teacher"}),
        ("byot", {"student"}, {"student"}),
    ],
)
def test_strategies_build_the_right_streams(tmp_path, strategy, streams, trained):
    tr = Trainer(tiny_cfg(f"strategy={strategy}"), tiny_data(), tmp_path)
    assert set(tr.streams) == streams and set(tr.optimizers) == trained
    has_guided = {s: bool(m.guided) for s, m in tr.streams.items()}
    assert has_guided == {s: strategy in ("byot", "teacher-only") for s in streams}


def test_kd_uses_a_fixed_teacher_checkpoint(tmp_path):
    teacher_run = tmp_path / "teacher"
    tr = Trainer(tiny_cfg("strategy=teacher-only", "train.epochs=1"), tiny_data(), teacher_run)
    tr.fit()
    kd = Trainer(tiny_cfg("strategy=kd", f"teacher.checkpoint={teacher_run}"), tiny_data(), tmp_path / "kd")
    assert set(kd.optimizers) == {"student"}
    t_before = params(kd.streams["teacher"])
    row = kd.fit()
    assert not changed(t_before, params(kd.streams["teacher"]))
    assert "test_gap" in row and row["test_gap"] == pytest.approx(row["test_top1_teacher"] - row["test_top1_student"])


def test_fixed_teacher_with_wrong_class_count_is_refused(tmp_path):
    teacher_run = tmp_path / "teacher"
    Trainer(tiny_cfg("strategy=teacher-only", "train.epochs=1"), tiny_data(n_classes=4), teacher_run).fit()
    with pytest.raises(UserError, match="4 classes"):
        Trainer(tiny_cfg("strategy=kd", f"teacher.checkpoint={teacher_run}"), tiny_data(n_classes=3), tmp_path / "kd")


def test_resume_is_bit_exact_on_cpu(tmp_path):
    cfg = tiny_cfg("augment.enabled=true", "train.epochs=3")
    full = Trainer(cfg, tiny_data(), tmp_path / "full")
    full.fit()
    part = Trainer(tiny_cfg("augment.enabled=true", "train.epochs=1"), tiny_data(), tmp_path / "part")
    part.fit()
    resumed = resume(cfg, tmp_path / "part")
    assert resumed.epoch == full.epoch == 3 and resumed.step == full.step
    assert_same_streams(full, resumed)
    assert (
        full.optimizers["student"]
        .state_dict()["state"][0]["momentum_buffer"]
        .equal(resumed.optimizers["student"].state_dict()["state"][0]["momentum_buffer"])
    )


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    tr = Trainer(tiny_cfg("train.epochs=1"), tiny_data(), tmp_path)
    tr.fit()
    good = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    tr.cfg = copy.deepcopy(tr.cfg)
    tr.cfg.train.epochs = 2
    with torch.no_grad():
        next(tr.streams["student"].parameters()).fill_(float("nan"))
    with pytest.raises(UserError, match="became nan"):
        tr.fit()
    kept = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert kept["epoch"] == good["epoch"] == 1


def test_checkpoint_gives_the_student_for_export(tmp_path):
    Trainer(tiny_cfg("train.epochs=1"), tiny_data(), tmp_path).fit()
    model, meta = load_student(tmp_path)
    assert meta["class_names"] == ["c0", "c1", "c2"] and meta["preprocess"]["size"] == 16
    logits, feat = model(torch.zeros(1, 3, 16, 16))
    assert logits.shape == (1, 3) and feat.shape == (1, meta["embedding_dim"])


def student_loss_by_epoch(override: str, epochs: int):
    """The student's total loss at each epoch under ``override`` for fixed outputs, and the last parts."""
    from lrface.distill.strategy import build_strategy
    from lrface.models import StreamOutput

    g = torch.Generator().manual_seed(0)
    out = lambda: StreamOutput(
        torch.randn(4, 3, generator=g),
        torch.randn(4, 5, generator=g),  # noqa: E731
        [torch.randn(4, 3, generator=g)],
        [torch.randn(4, 5, generator=g)],
        [torch.randn(4, 5, generator=g)],
    )
    student, teacher, y = out(), out(), torch.tensor([0, 1, 2, 0])
    strategy = build_strategy(tiny_cfg(override))
    totals = []
    for epoch in range(epochs):
        strategy.start_epoch(epoch)
        loss, parts = strategy.stream_loss("student", student, y, teacher)
        totals.append(float(loss))
    assert set(parts) == {"ce", "within_kl", "within_l2", "cross_kl", "cross_l2"}
    return totals, {k: float(v) for k, v in parts.items()}


def test_warmup_ramps_distillation_terms_but_not_ce():
    totals, parts = student_loss_by_epoch("loss.warmup_epochs=4", 6)
    distill = sum(v for k, v in parts.items() if k != "ce")
    expected = [parts["ce"] + min(1.0, (e + 1) / 4) * distill for e in range(6)]
    assert totals == pytest.approx(expected, rel=1e-6) and totals[0] < totals[3] == totals[5]


def test_cross_warmup_ramps_only_the_cross_stream_terms():
    totals, parts = student_loss_by_epoch("loss.cross_warmup_epochs=3", 4)
    cross = sum(v for k, v in parts.items() if k.startswith("cross"))
    rest = sum(v for k, v in parts.items() if not k.startswith("cross"))
    assert cross > 0 and totals == pytest.approx([rest + min(1.0, (e + 1) / 3) * cross for e in range(4)], rel=1e-6)


def test_teacher_milestones_step_only_the_teacher(tmp_path):
    tr = Trainer(
        tiny_cfg("optim.milestones=[5]", "optim.teacher_milestones=[1]", "train.epochs=2"), tiny_data(), tmp_path
    )
    tr.fit()
    lrs = {s: o.param_groups[0]["lr"] for s, o in tr.optimizers.items()}
    assert lrs["teacher"] == pytest.approx(0.01) and lrs["student"] == pytest.approx(0.1)


def test_evolutionary_teacher_starts_from_a_plain_teacher_but_a_fixed_guided_one_is_refused(tmp_path):
    """The benchmark's teacher-only is plain (CE only, no guided modules): ekd-warm's evolutionary
    teacher takes its backbone and trains fresh guided modules; a fixed teacher cannot train them."""
    plain = tmp_path / "plain"
    Trainer(tiny_cfg("strategy=teacher-only", "teacher.guided=false", "train.epochs=1"), tiny_data(), plain).fit()
    warm = Trainer(tiny_cfg(f"teacher.checkpoint={plain}"), tiny_data(), tmp_path / "warm")
    sd = load_checkpoint(plain / "checkpoints" / "best.pt")["models"]["teacher"]
    assert warm.streams["teacher"].guided and all(
        torch.equal(warm.streams["teacher"].state_dict()[k], v) for k, v in sd.items()
    )
    with pytest.raises(UserError, match="lacks"):
        Trainer(tiny_cfg("teacher.mode=fixed", f"teacher.checkpoint={plain}"), tiny_data(), tmp_path / "fixed")


def test_optim_warmup_epochs_ramps_the_learning_rate_then_the_steps_apply(tmp_path):
    tr = Trainer(
        tiny_cfg(
            "strategy=student-only",
            "train.epochs=5",
            "optim.lr=0.3",
            "optim.warmup_epochs=3",
            "optim.milestones=[4]",
            "optim.gamma=0.1",
        ),
        tiny_data(),
        tmp_path,
    )
    tr.fit()
    lrs = [float(r["lr"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))]
    assert lrs == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.03])


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
