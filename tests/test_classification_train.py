"""One config of each classification family trains one step through `lrface train` on official-layout files."""

import pytest
import torch

from lrface.cli import main
from tests.test_classification_data import make_cifar100, make_tiny


@pytest.mark.parametrize(
    "config,make",
    [
        ("configs/classification/cifar100-peer-resnet50-resnet18.yaml", make_cifar100),
        ("configs/classification/tinyimagenet-resnet34-resnet18.yaml", make_tiny),
    ],
)
def test_config_family_trains_one_step(tmp_path, config, make):
    make(tmp_path / "data")
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "--config",
            config,
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(run),
            "--set",
            "train.batch_size=4",
            "--set",
            "train.max_steps=1",
            "--set",
            "train.epochs=1",
            "--set",
            "train.threads=1",
        ]
    )
    assert rc == 0
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert state["step"] == 1 and set(state["models"]) == {"teacher", "student"}


def test_missing_cifar_root_names_the_expected_path(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    rc = main(
        [
            "train",
            "--config",
            "configs/classification/cifar100-peer-resnet50-resnet18.yaml",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cifar-100-python/train" in err[0]
    assert not (tmp_path / "run").exists()
