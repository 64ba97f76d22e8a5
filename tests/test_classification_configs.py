"""Every configs/classification/*.yaml loads, names registered models, fits their block splits,
and keeps the paper's hyper-parameters (batch 64, lr 0.1 x0.1 at 75/130/180, T = 4, seed 5)."""

import functools
from pathlib import Path

import pytest

from lrface.config import load_config
from lrface.models import build_model, list_models

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "classification").glob("*.yaml"))


@functools.cache
def num_blocks(arch: str) -> int:
    return len(build_model(arch, num_classes=10).blocks)


def test_every_table_row_has_a_config():
    names = {p.stem for p in CONFIGS}
    assert len([n for n in names if n.startswith("cifar100-peer-")]) == 7  # Table I
    assert len([n for n in names if n.startswith("cifar100-cross-")]) == 5  # Table II
    assert {
        "cifar100-online-vgg16_bn",
        "cifar100-online-resnet110",
        "tinyimagenet-resnet34-resnet18",
        "cifar100-lowres16-resnet50-resnet18",
        "cifar100-few25-resnet50-resnet18",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_classification_config(path):
    cfg = load_config(path)
    assert cfg.name == path.stem and cfg.strategy == "ekd"
    assert cfg.data.kind in ("cifar10", "cifar100", "tiny-imagenet")
    assert cfg.teacher.arch in list_models() and cfg.student.arch in list_models()
    assert cfg.guided.count == min(num_blocks(cfg.teacher.arch), num_blocks(cfg.student.arch)) - 1
    assert (cfg.train.batch_size, cfg.train.seed, cfg.loss.temperature) == (64, 5, 4.0)
    assert (cfg.optim.lr, cfg.optim.gamma, cfg.optim.milestones) == (0.1, 0.1, [75, 130, 180])
    assert cfg.data.image_size == (16 if cfg.data.low_res else 64 if cfg.data.kind == "tiny-imagenet" else 32)
    assert "Paper:" in path.read_text()
