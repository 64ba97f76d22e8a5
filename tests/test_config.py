"""Config files and --set values: every bad one is a one-line UserError; scientific notation is a number."""

from __future__ import annotations

import re

import pytest

from lrface.config import config_from_dict, load_config
from lrface.errors import UserError


def test_scientific_notation_is_accepted():
    assert load_config(None, ["optim.lr=1e-3"]).optim.lr == pytest.approx(1e-3)
    assert load_config(None, ["optim.weight_decay=5E-4"]).optim.weight_decay == pytest.approx(5e-4)


@pytest.mark.parametrize(
    "item,needle",
    [
        ("optim.lr=-1", "optim.lr: -1 must be a finite number >= 0"),
        ("optim.gamma=0", "optim.gamma: 0 must be a finite number > 0"),
        ("optim.lr=nan", "optim.lr: nan must be a finite number"),
        ("optim.lr=.inf", "optim.lr: inf must be a finite number"),
        ("loss.cross_l2=-0.5", "loss.cross_l2: -0.5 must be a finite number >= 0"),
        ("train.epochs=0", "train.epochs: 0 must be a finite number > 0"),
        ("optim.warmup_epochs=-2", "optim.warmup_epochs: -2 must be a finite number >= 0"),
        ("train.workers=2", "unknown config key train.workers"),
        # the rules between keys name the one that failed and its value
        ("data.val_fraction=1", "data.val_fraction 1.0 must be in [0, 1)"),
        ("data.val_pairs=0", "data.val_pairs 0 must be >= 1"),
        ("preprocess.std=[0.5,0,0.5]", "preprocess.mean [0.5, 0.5, 0.5] / std [0.5, 0, 0.5]: give three values each"),
    ],
)
def test_out_of_range_and_non_finite_numbers_are_refused(item, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        load_config(None, [item])


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"- a\n- b\n", "expected a mapping of sections"),
        (bytes(range(256)) * 4, "not a text"),
        (b"train: {epochs: [\n", "not valid YAML"),
    ],
)
def test_config_files_that_are_not_a_mapping_are_one_line(tmp_path, content, needle):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(UserError, match=needle):
        load_config(path)


def test_stored_configs_of_older_runs_still_load():
    """train.workers was validated but never read, so it was removed; old checkpoints keep loading."""
    raw = load_config(None).to_dict()
    raw["train"]["workers"] = 4
    assert config_from_dict(raw).to_dict() == load_config(None).to_dict()


def test_a_set_value_that_is_not_yaml_is_one_line():
    with pytest.raises(UserError, match=r"--set 'student.kwargs=\{bad': the value is not valid YAML"):
        load_config(None, ["student.kwargs={bad"])


def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path):
    """PyYAML keeps the last of two equal keys silently: a second `train:` section erased the first."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 1\noptim:\n  lr: 0.1\ntrain:\n  seed: 3\n")
    with pytest.raises(UserError, match=r"the key 'train' is given twice \(line 5\)"):
        load_config(cfg)


def test_a_set_below_a_config_value_that_is_not_a_section_names_the_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: 5\n")
    with pytest.raises(UserError, match=r"--set train.threads: the config holds train: 5, not a section"):
        load_config(cfg, ["train.threads=1"])


@pytest.mark.parametrize("item", ["train={}", "train={epochs: 3}", "teacher=null", "optim=5"])
def test_a_set_that_replaces_a_whole_section_is_refused(tmp_path, item):
    """`--set train={}` replaced the section with an empty mapping: every train key, the config file's
    included, silently went back to its default. A section is set key by key."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 7\n  seed: 3\n")
    section = item.split("=")[0]
    with pytest.raises(UserError) as e:
        load_config(cfg, [item])
    msg = str(e.value)
    assert msg.startswith(f"--set {section}=...: {section} is a whole config section") and "\n" not in msg
    assert f"set one key at a time, e.g. --set {section}." in msg
    kept = load_config(cfg, ["train.epochs=3", "student.kwargs={}"])  # keys, also a mapping-valued one, still set
    assert (kept.train.epochs, kept.train.seed, kept.student.kwargs) == (3, 3, {})
