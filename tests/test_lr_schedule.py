"""optim.schedule=cosine (lrface/engine/build.py): the lr of every epoch against hand-computed values, for both
streams; resume of an interrupted run stays bit-exact; lr steps for the teacher alone are refused with it."""

import copy
import csv

import pytest

from lrface.config import load_config
from lrface.engine.build import cosine_factor
from lrface.engine.trainer import Trainer
from lrface.errors import UserError
from tests.test_engine import assert_same_streams, resume, tiny_cfg, tiny_data


def test_cosine_warms_up_then_follows_half_a_cosine(tmp_path):
    tr = Trainer(
        tiny_cfg("train.epochs=5", "optim.lr=0.3", "optim.warmup_epochs=3", "optim.schedule=cosine"),
        tiny_data(),
        tmp_path,
    )
    tr.fit()
    lrs = [float(r["lr"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))]
    # warm-up 0.3/3, 0.3*2/3, 0.3; then 0.3 * (1 + cos(pi k/3)) / 2 for k = 1, 2: 0.225, 0.075
    assert lrs == pytest.approx([0.1, 0.2, 0.3, 0.225, 0.075])
    # after the last epoch's step the factor is (1 + cos(pi)) / 2 = 0, for the teacher as for the student
    assert all(o.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12) for o in tr.optimizers.values())


def test_cosine_without_warm_up_starts_at_lr():
    assert [round(cosine_factor(e, 4, 0), 6) for e in range(4)] == [1.0, 0.853553, 0.5, 0.146447]
    assert [cosine_factor(e, 4, 1) for e in range(4)] == [cosine_factor(e, 4, 0) for e in range(4)]
    # a warm-up as long as the run: only warm-up epochs, and the step after the last one divides by nothing
    assert [cosine_factor(e, 3, 4) for e in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_resume_of_an_interrupted_cosine_run_is_bit_exact(tmp_path):
    cfg = tiny_cfg("augment.enabled=true", "train.epochs=3", "optim.schedule=cosine", "optim.warmup_epochs=2")
    full = Trainer(cfg, tiny_data(), tmp_path / "full")
    full.fit()
    part = Trainer(cfg, tiny_data(), tmp_path / "part")
    part.cfg = copy.deepcopy(cfg)
    part.cfg.train.epochs = 1  # stopped after its first epoch, schedule built for three
    part.fit()
    resumed = resume(cfg, tmp_path / "part")
    assert resumed.epoch == full.epoch == 3 and resumed.step == full.step
    assert_same_streams(full, resumed)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["optim.schedule=cosine", "optim.teacher_milestones=[3]"], "optim.teacher_milestones are lr steps"),
        (["optim.schedule=linear"], "optim.schedule"),
    ],
)
def test_bad_schedule_settings_are_one_line(overrides, match):
    with pytest.raises(UserError, match=match) as e:
        load_config(None, ["strategy=ekd", *overrides])
    assert "\n" not in str(e.value)
