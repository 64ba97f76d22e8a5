"""train.ema_decay: the student's weight average - its update rule, validation, resume, export."""

import onnxruntime as ort
import pytest
import torch
from test_engine import params, resume, tiny_cfg, tiny_data

from lrface.cli import main
from lrface.config import load_config
from lrface.engine.checkpoint import load_checkpoint, load_student
from lrface.engine.trainer import Trainer
from lrface.errors import UserError


def test_the_average_copies_the_first_step_then_follows_the_decay(tmp_path):
    """Decay 0.5: after one step the average is the weights; after two it is (w1 + w2) / 2."""
    one = Trainer(tiny_cfg("train.ema_decay=0.5", "train.max_steps=1"), tiny_data(), tmp_path / "one")
    one.fit()
    w1 = params(one.streams["student"])
    assert all(torch.equal(v, params(one.ema.module)[k]) for k, v in w1.items())
    two = Trainer(tiny_cfg("train.ema_decay=0.5", "train.max_steps=2"), tiny_data(), tmp_path / "two")
    two.fit()
    w2, avg = params(two.streams["student"]), params(two.ema.module)
    for k, v in w2.items():
        if v.is_floating_point():  # BN statistics too (use_buffers)
            torch.testing.assert_close(avg[k], (w1[k] + v) / 2, rtol=0, atol=1e-6)
    assert any(not torch.equal(avg[k], w2[k]) for k in w2 if w2[k].is_floating_point())


def test_the_average_is_validated_and_can_pick_best(tmp_path):
    tr = Trainer(
        tiny_cfg("train.ema_decay=0.9", "train.select_on=student_ema", "train.epochs=1"), tiny_data(), tmp_path
    )
    row = tr.fit()
    assert {"test_top1_student", "test_top1_student_ema"} <= set(row)
    assert tr.best == row["test_top1_student_ema"]


def test_resume_is_bit_exact_with_the_average(tmp_path):
    full = Trainer(tiny_cfg("train.ema_decay=0.9", "train.epochs=3"), tiny_data(), tmp_path / "full")
    full.fit()
    Trainer(tiny_cfg("train.ema_decay=0.9", "train.epochs=1"), tiny_data(), tmp_path / "part").fit()
    resumed = resume(tiny_cfg("train.ema_decay=0.9", "train.epochs=3"), tmp_path / "part")
    a, b = params(full.ema.module), params(resumed.ema.module)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert int(full.ema.n_averaged) == int(resumed.ema.n_averaged) == full.step


def test_resume_with_an_average_the_run_did_not_keep_starts_it_there(tmp_path, capsys):
    Trainer(tiny_cfg("train.epochs=1"), tiny_data(), tmp_path).fit()
    resumed = Trainer(tiny_cfg("train.ema_decay=0.9", "train.epochs=2"), tiny_data(), tmp_path)
    resumed.load_state_dict(load_checkpoint(tmp_path / "checkpoints" / "last.pt"))
    assert "starts at this epoch" in capsys.readouterr().err
    resumed.fit()
    assert int(resumed.ema.n_averaged) == resumed.step // 2  # the second epoch's steps only


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.select_on=student_ema"], "needs the weight average"),
        (["train.ema_decay=1"], r"must be in \[0, 1\)"),
    ],
)
def test_bad_average_settings_are_refused_at_load(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(None, overrides)


def test_a_run_without_a_student_cannot_average_one(tmp_path):
    with pytest.raises(UserError, match="trains none"):
        Trainer(tiny_cfg("strategy=teacher-only", "train.ema_decay=0.9"), tiny_data(), tmp_path)


def test_export_writes_the_chosen_stream_and_names_the_other(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(tiny_cfg("train.ema_decay=0.9", "train.select_on=student_ema", "train.epochs=1"), tiny_data(), run).fit()
    assert main(["export", "--onnx", str(run)]) == 0
    assert main(["export", "--onnx", str(run), "--no-ema"]) == 0
    assert "weight average" in capsys.readouterr().out
    chosen, raw = run / "export" / "student.onnx", run / "export" / "student.raw.onnx"
    props = {p: ort.InferenceSession(str(p)).get_modelmeta().custom_metadata_map for p in (chosen, raw)}
    assert props[chosen]["lrface.ema_decay"] == "0.9" and props[raw]["lrface.ema_decay"] == "0"
    assert props[chosen]["lrface.fingerprint"] != props[raw]["lrface.fingerprint"]
    avg, _ = load_student(run, ema=True)
    tr_avg = load_checkpoint(run / "checkpoints" / "best.pt")["ema"]
    assert torch.equal(avg.state_dict()["fc.weight"], tr_avg["module.backbone.fc.weight"])


def test_export_of_the_average_from_a_run_without_one_is_refused(tmp_path):
    Trainer(tiny_cfg("train.epochs=1"), tiny_data(), tmp_path).fit()
    with pytest.raises(UserError, match="kept no weight average"):
        load_student(tmp_path, ema=True)
