"""`lrface train` end to end through the CLI, and every bad input: one line, exit 2, nothing half-written."""

import csv

import pytest
import torch

from lrface.cli import main
from tests.conftest import TINY_TRAIN, make_identity_set, shared_data

TINY = TINY_TRAIN


def train(*args):
    return main(["train", "--config", "configs/face/orl-smoke.yaml", *args])


def one_line_error(capsys, rc, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], err
    for n in needles:
        assert n in err[0], err[0]


def test_train_end_to_end_on_generated_set(tmp_path):
    data = make_identity_set(tmp_path / "faces")
    run = tmp_path / "run"
    assert train("--data", str(data), "--out", str(run), *TINY, "--set", "train.epochs=2") == 0
    for f in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / f).is_file(), f
    assert any((run / "tb").iterdir())
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "test_gap" in rows[0] and "test_top1_student_g3" in rows[0]
    # resume to a longer schedule continues from epoch 2
    assert main(["train", "--resume", str(run), "--set", "train.epochs=3"]) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["epoch"] == 3


def test_train_on_orl_with_the_real_student(tmp_path):
    orl = shared_data("orl")
    run = tmp_path / "orl"
    rc = train(
        "--data",
        str(orl),
        "--out",
        str(run),
        "--set",
        "teacher.arch=resnet_tiny",
        "--set",
        "train.epochs=8",
        "--set",
        "train.batch_size=32",
        "--set",
        "optim.milestones=[6]",
        "--set",
        "train.threads=1",
    )
    assert rc == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    # 40 identities: chance is 2.5 %; eight short epochs of the real 0.61 M student reach ~75 % here
    assert float(rows[-1]["test_top1_student"]) > 30.0


def test_data_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LRFACE_DATA", str(make_identity_set(tmp_path / "faces", identities=3, per_identity=4)))
    assert train("--out", str(tmp_path / "run"), *TINY, "--set", "train.epochs=1") == 0


@pytest.mark.parametrize(
    "override,needle",
    [
        ("trian.epochs=3", "unknown config key trian"),
        ("loss.temprature=2", "did you mean loss.temperature"),
        ("train.epochs=many", "expected int"),
        ("strategy=distill", "not one of"),
    ],
)
def test_bad_config_keys(tmp_path, capsys, override, needle):
    rc = train("--data", str(tmp_path / "faces"), "--out", str(tmp_path / "run"), "--set", override)
    one_line_error(capsys, rc, needle)
    assert not (tmp_path / "run").exists()


def test_missing_and_unusable_data(tmp_path, capsys):
    one_line_error(capsys, train("--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r1")), "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, train("--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r2")), "with images")
    one = make_identity_set(tmp_path / "one", identities=1)
    one_line_error(capsys, train("--data", str(one), "--out", str(tmp_path / "r3")), "at least 2 identities")
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3"))


def test_output_directory_rules(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    one_line_error(
        capsys, train("--data", str(data), "--out", str(other), *TINY), "is not empty and is not a run", "--force"
    )
    assert (other / "notes.txt").read_text() == "mine"
    run = tmp_path / "run"
    assert train("--data", str(data), "--out", str(run), *TINY, "--set", "train.epochs=1") == 0
    capsys.readouterr()
    one_line_error(capsys, train("--data", str(data), "--out", str(run), *TINY), "is a run", "--resume")


def test_bad_resume_targets(tmp_path, capsys):
    one_line_error(capsys, main(["train", "--resume", str(tmp_path)]), "not a run directory")
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    run = tmp_path / "run"
    assert train("--data", str(data), "--out", str(run), *TINY, "--set", "train.epochs=1") == 0
    capsys.readouterr()
    one_line_error(capsys, main(["train", "--resume", str(run), "--set", "loss.ce=2"]), "only train.* keys")
    last = run / "checkpoints" / "last.pt"
    blob = last.read_bytes()
    last.write_bytes(blob[: len(blob) // 2])
    one_line_error(capsys, main(["train", "--resume", str(run)]), "truncated or not a PyTorch checkpoint")
    torch.save({"weights": torch.zeros(2)}, last)
    one_line_error(capsys, main(["train", "--resume", str(run)]), "not an lrface checkpoint")
    last.write_bytes(b"")
    one_line_error(capsys, main(["train", "--resume", str(run)]), "empty file (0 bytes")
    one_line_error(capsys, main(["export", "--onnx", str(last)]), "empty file (0 bytes")


def test_resume_refuses_a_checkpoint_from_another_run(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    for name, lr in (("a", "0.1"), ("b", "0.05")):
        assert (
            train(
                "--data",
                str(data),
                "--out",
                str(tmp_path / name),
                *TINY,
                "--set",
                "train.epochs=1",
                "--set",
                f"optim.lr={lr}",
            )
            == 0
        )
    capsys.readouterr()
    (tmp_path / "a" / "checkpoints" / "last.pt").write_bytes((tmp_path / "b" / "checkpoints" / "last.pt").read_bytes())
    one_line_error(
        capsys,
        main(["train", "--resume", str(tmp_path / "a"), "--set", "train.epochs=2"]),
        "last.pt is from another run (optim.lr differs from config.yaml)",
    )


@pytest.mark.parametrize("content", [b"- a\n- b\n", bytes(range(256))])
def test_a_config_that_is_a_list_or_binary_is_one_line(tmp_path, capsys, content):
    (tmp_path / "c.yaml").write_bytes(content)
    one_line_error(
        capsys, main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]), "c.yaml"
    )
    assert not (tmp_path / "r").exists()


def test_set_takes_several_keys_and_repeats():
    from lrface.cli import build_parser

    for cmd in ("train", "benchmark"):
        args = build_parser(cmd).parse_args(
            [cmd, "--out", "x", "--set", "train.epochs=2", "train.seed=6", "--set", "data.fraction=0.5"]
        )
        assert args.overrides == ["train.epochs=2", "train.seed=6", "data.fraction=0.5"]


def test_a_model_kwarg_the_model_lacks_is_one_line_and_the_out_can_be_reused(tmp_path, capsys):
    """student.kwargs={bogus: 1} was a TypeError traceback; the --out it left (config.yaml only) then
    refused the corrected command without --force."""
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    run = tmp_path / "run"
    bad = ("--set", "student.kwargs={bogus: 1}")
    one_line_error(capsys, train("--data", str(data), "--out", str(run), *TINY, *bad), "cannot be built", "bogus")
    assert train("--data", str(data), "--out", str(run), *TINY, "--set", "train.epochs=1") == 0
    assert (run / "checkpoints" / "last.pt").is_file()
