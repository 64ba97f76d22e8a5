"""`base:` in a config: the named config (a path relative to the file) is deep-merged underneath; cycles,
missing files and bad values are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrface.cli import main
from lrface.config import load_config
from lrface.errors import UserError

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "face"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_is_deep_merged_relative_to_the_file(tmp_path):
    write(
        tmp_path / "common" / "base.yaml", "name: base\ntrain: {epochs: 7, batch_size: 32}\noptim: {milestones: [3]}\n"
    )
    child = write(tmp_path / "runs" / "child.yaml", "base: ../common/base.yaml\ntrain: {epochs: 9}\n")
    cfg = load_config(child, ["optim.lr=0.05"])
    assert (cfg.name, cfg.train.epochs, cfg.train.batch_size) == ("base", 9, 32)
    assert cfg.optim.milestones == [3] and cfg.optim.lr == 0.05


def test_bases_chain_and_lists_replace(tmp_path):
    write(tmp_path / "a.yaml", "optim: {milestones: [1, 2], lr: 0.2}\n")
    write(tmp_path / "b.yaml", "base: a.yaml\noptim: {milestones: [5]}\n")
    cfg = load_config(write(tmp_path / "c.yaml", "base: b.yaml\nname: c\n"))
    assert cfg.optim.milestones == [5] and cfg.optim.lr == 0.2 and cfg.name == "c"


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, "makes a cycle"),
        ({"a.yaml": "base: a.yaml\n"}, "makes a cycle"),
        ({"a.yaml": "base: missing.yaml\n"}, "base config .*missing.yaml not found"),
        ({"a.yaml": "base: [b.yaml]\n"}, "base: names the config it extends"),
    ],
)
def test_bad_base_is_one_line(tmp_path, capsys, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(UserError, match=message):
        load_config(tmp_path / "a.yaml")
    rc = main(["train", "--config", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_packaged_student_extends_lfw16_ekd_with_its_recipe():
    cfg, base = load_config(CONFIGS / "packaged-student.yaml"), load_config(CONFIGS / "lfw16-ekd.yaml")
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.optim.milestones) == (60, 64, [36, 50])
    assert cfg.data.val_identities == 40 and cfg.name == "packaged-student"
    for section in ("teacher", "student", "guided", "loss", "head", "hr", "augment"):
        assert getattr(cfg, section) == getattr(base, section), section
    assert cfg.data.path == base.data.path and cfg.train.seed == base.train.seed == 5
