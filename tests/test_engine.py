"""The trainer: strategies and their streams, fixed teachers, bit-exact resume, NaN handling, warm-ups and lr
schedules, guided-module placement; shared helpers (tiny configs and data, one seeded first step). One EKD step
itself: test_ekd_step.py."""

import copy
import csv

import numpy as np
import pytest
import torch

from lrface.config import load_config
from lrface.data.sources import DataBundle
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
    before the step): one step of ``tiny_cfg(*overrides)`` at epoch 0, seeded, so two calls differing only in a
    term's key can be subtracted."""
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


def term_step(tmp_path, key, share, on, base=()):
    """One seeded first step of ``tiny_cfg(*base)`` and one with ``on`` added: the student's term ``key`` is logged
    only with ``on``, the student's Eq. 11 sum grows by ``share`` times it and the teacher's does not move.
    Returns ``first_step``'s answer for the run with ``on``."""
    *_, off, _ = first_step(tmp_path / "off", *base)
    tr, x, y, logs, before = first_step(tmp_path / "on", *base, *on)
    assert f"student_{key}" not in off
    assert logs["loss_student"] - off["loss_student"] == pytest.approx(share * logs[f"student_{key}"], rel=1e-4)
    assert logs["loss_teacher"] == pytest.approx(off["loss_teacher"])
    return tr, x, y, logs, before


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def resume(cfg, run_dir, data=None):
    """A Trainer on ``cfg`` resumed from ``run_dir``'s last checkpoint and trained to ``cfg``'s last epoch."""
    tr = Trainer(cfg, tiny_data() if data is None else data, run_dir)
    tr.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "last.pt"))
    tr.fit()
    return tr


def changed(a, b):
    """Whether any floating-point tensor differs between two ``params`` snapshots."""
    return any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def assert_same_streams(a, b, names=None):
    """The named streams (all of ``a``'s by default) hold bit-identical weights and buffers in both Trainers."""
    for s in names or a.streams:
        pa, pb = params(a.streams[s]), params(b.streams[s])
        assert all(torch.equal(pa[k], pb[k]) for k in pa), s


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


def test_guided_blocks_outside_the_backbone_name_the_key_and_the_range(tmp_path):
    with pytest.raises(UserError, match=r"guided\.blocks: guided modules attach after blocks 1\.\.3, got \[5\]; list"):
        Trainer(tiny_cfg("guided.blocks=[5]"), tiny_data(), tmp_path)
