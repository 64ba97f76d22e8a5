"""Registries are the one source of config choices: a strategy or model registered at runtime is a valid
config value with no other edit, and a strategy owns the order of its update step."""

from __future__ import annotations

import pytest
import torch
from test_engine import tiny_cfg, tiny_data

from lrface.config import load_config
from lrface.distill import strategy as registry
from lrface.distill.strategy import Strategy, register_strategy, strategy_names
from lrface.engine.trainer import Trainer
from lrface.errors import UserError


@pytest.fixture
def student_first():
    """A strategy registered at runtime that updates the student before the teacher."""

    @register_strategy
    class StudentFirst(Strategy):
        name = "test-student-first"

        def step(self, run, x, y, idx=None):
            logs = {}
            s_out = run.forward("student", x["student"])
            run.update("student", s_out, y, None, logs)
            t_out = run.forward("teacher", x["teacher"])
            run.update("teacher", t_out, y, s_out.detach(), logs)
            return logs

    yield StudentFirst
    registry._STRATEGIES.pop("test-student-first")


def test_a_strategy_registered_at_runtime_is_a_config_choice_and_trains(student_first, tmp_path):
    assert "test-student-first" in strategy_names()
    cfg = tiny_cfg("strategy=test-student-first")
    tr = Trainer(cfg, tiny_data(), tmp_path)
    order = []
    real = tr.update
    tr.update = lambda stream, *a, **k: (order.append(stream), real(stream, *a, **k))[1]
    images, labels = tr.data.splits["train"]
    x = tr.to_input(images[:8])
    logs = tr.train_step({"teacher": x, "student": x}, torch.from_numpy(labels[:8]))
    assert order == ["student", "teacher"]
    assert {"loss_student", "loss_teacher"} <= set(logs)


def test_unknown_strategy_lists_the_registry(student_first):
    with pytest.raises(UserError, match="not one of .*test-student-first"):
        load_config(None, ["strategy=nope"])


def test_a_strategy_refuses_a_config_it_cannot_train():
    with pytest.raises(UserError, match="strategy kd needs a fixed teacher"):
        load_config(None, ["strategy=kd"])


def test_model_and_head_choices_come_from_their_registries():
    from lrface.models import list_models, register_model
    from lrface.models.resnet import resnet_tiny

    with pytest.raises(UserError, match="student.arch: 'nope' is not one of .*resnet_tiny"):
        load_config(None, ["student.arch=nope"])
    with pytest.raises(UserError, match="head.type: 'nope' is not one of softmax, cosface, arcface"):
        load_config(None, ["head.type=nope"])

    def test_runtime_arch(num_classes, **kwargs):
        return resnet_tiny(num_classes=num_classes, **kwargs)

    register_model(test_runtime_arch)
    try:
        assert "test_runtime_arch" in list_models()
        assert load_config(None, ["teacher.arch=test_runtime_arch"]).teacher.arch == "test_runtime_arch"
    finally:
        from lrface.models import registry as models

        models._MODELS.pop("test_runtime_arch")
