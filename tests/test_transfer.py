"""`lrface train --init RUN`: start from a many-identity run with fresh classifiers; mismatches are one line."""

import torch

from lrface.cli import main
from tests.conftest import make_identity_set
from tests.test_train_cli import TINY, one_line_error

ONLY = [*TINY, "--set", "strategy=student-only", "--set", "train.epochs=1"]


def train(*args):
    return main(["train", "--config", "configs/face/orl-smoke.yaml", *args])


def test_init_copies_backbones_with_fresh_classifiers(tmp_path, capsys):
    big = make_identity_set(tmp_path / "big", identities=8, per_identity=5, seed=1)
    small = make_identity_set(tmp_path / "small", identities=4, per_identity=5, seed=2)
    assert train("--data", str(big), "--out", str(tmp_path / "a"), *ONLY) == 0
    # lr 1e-9: the run ends (within 1e-5) where it started (BN statistics aside)
    assert (
        train(
            "--data",
            str(small),
            "--out",
            str(tmp_path / "b"),
            "--init",
            str(tmp_path / "a"),
            *ONLY,
            "--set",
            "optim.lr=1e-9",
            "--set",
            "head.type=cosface",
        )
        == 0
    )
    assert "student starts from" in capsys.readouterr().err
    a = torch.load(tmp_path / "a/checkpoints/best.pt", weights_only=True)["models"]["student"]
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)["models"]["student"]
    convs = [k for k in a if k.endswith(".weight") and a[k].ndim == 4]
    assert convs and all(torch.allclose(a[k], b[k], atol=1e-5) for k in convs)
    assert a["backbone.fc.weight"].shape[0] == 8 and b["backbone.fc.weight"].shape[0] == 4
    # without --init the same run starts elsewhere
    assert train("--data", str(small), "--out", str(tmp_path / "c"), *ONLY, "--set", "optim.lr=1e-9") == 0
    c = torch.load(tmp_path / "c/checkpoints/last.pt", weights_only=True)["models"]["student"]
    assert not any(torch.allclose(a[k], c[k], atol=1e-5) for k in convs)


def test_init_from_other_architecture_is_one_line_and_writes_nothing(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces", identities=4, per_identity=4)
    assert train("--data", str(data), "--out", str(tmp_path / "a"), *ONLY) == 0
    capsys.readouterr()
    out = tmp_path / "b"
    rc = train(
        "--data", str(data), "--out", str(out), "--init", str(tmp_path / "a"), *ONLY, "--set", "student.arch=sresnet18"
    )
    one_line_error(capsys, rc, "--init", "resnet_tiny", "sresnet18")
    assert not out.exists()
    rc = train("--data", str(data), "--out", str(out), "--init", str(tmp_path / "nope"), *ONLY)
    one_line_error(capsys, rc, "nope")


def test_init_checks_only_the_streams_this_config_trains(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces", identities=4, per_identity=4)
    assert train("--data", str(data), "--out", str(tmp_path / "ekd"), *TINY, "--set", "train.epochs=1") == 0
    capsys.readouterr()
    # a student-only config whose (unused) teacher differs from the EKD run's takes the EKD run's student
    other_teacher = ["--set", "teacher.arch=resnet18"]
    assert (
        train(
            "--data", str(data), "--out", str(tmp_path / "so"), "--init", str(tmp_path / "ekd"), *ONLY, *other_teacher
        )
        == 0
    )
    assert "student starts from" in capsys.readouterr().err
    # an EKD config trains the teacher too, so the same difference is one line
    rc = train(
        "--data", str(data), "--out", str(tmp_path / "e2"), "--init", str(tmp_path / "ekd"), *TINY, *other_teacher
    )
    one_line_error(capsys, rc, "--init", "teacher", "resnet_tiny", "resnet18")
    assert not (tmp_path / "e2").exists()
