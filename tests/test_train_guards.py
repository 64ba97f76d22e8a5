"""What could make a training silently wrong is refused or said: a resume that would redraw the split or the
checkpoint choice, settings outside their sense, best.pt chosen on the test split, best.pt left stale by a
kill, identities that differ only in spelling across sources, duplicate photos across identity folders, and a
folder cache made by another image decoder."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from lrface.cli import main
from lrface.config import load_config
from lrface.data.sources import load_data, load_identity_folder
from lrface.errors import UserError
from tests.conftest import make_identity_set
from tests.test_train_cli import TINY, one_line_error, train


@pytest.fixture
def run(tmp_path):
    data = make_identity_set(tmp_path / "faces")
    assert train("--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--set", "train.epochs=1") == 0
    return tmp_path / "run"


@pytest.mark.parametrize(
    "item,needle",
    [
        ("train.seed=6", "--set train.seed: cannot change on --resume (it drew the train/test split"),
        ("train.select_on=teacher", "--set train.select_on: cannot change on --resume"),
        ("train.per_identity=1", "train.per_identity 1 must be 0 (a plain shuffle) or in 2.."),  # check_config runs
    ],
)
def test_resume_refuses_what_would_change_the_split_or_the_choice(run, capsys, item, needle):
    capsys.readouterr()
    one_line_error(capsys, main(["train", "--resume", str(run), "--set", "train.epochs=2", "--set", item]), needle)


@pytest.mark.parametrize(
    "item,needle",
    [
        ("optim.milestones=[1.5]", "optim.milestones [1.5]: give the epochs of the lr steps as whole numbers"),
        ("optim.milestones=[50,36]", "optim.milestones [50, 36]"),
        ("optim.teacher_milestones=[0]", "optim.teacher_milestones [0]"),
        ("augment.brightness_contrast=5", "augment.brightness_contrast 5 must be in [0, 1]"),
        ("augment.scale=2", "augment.scale 2 must be in [0, 0.9]"),
        ("augment.shift=3", "augment.shift 3 must be in [0, 0.5]"),
        ("augment.rotate=400", "augment.rotate 400 must be in [0, 180]"),
    ],
)
def test_settings_outside_their_sense_are_refused(item, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        load_config(None, [item])


def test_best_pt_is_picked_and_named_by_a_stream_the_strategy_trains(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces")
    capsys.readouterr()
    sets = ["--set", "train.epochs=1", "--set", "strategy=student-only", "--set", "train.select_on=teacher"]
    assert train("--data", str(data), "--out", str(tmp_path / "r"), *TINY, *sets) == 0
    assert "best student top-1" in capsys.readouterr().out  # the teacher is not trained: the student picks


def test_picking_best_pt_on_the_test_split_is_said(tmp_path, capsys):
    data = make_identity_set(tmp_path / "faces")
    capsys.readouterr()
    assert train("--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--set", "train.epochs=1") == 0
    assert "best.pt is picked on the test split" in capsys.readouterr().err


def test_best_pt_is_written_before_last_pt(tmp_path, monkeypatch):
    import lrface.engine.run_dir as run_dir

    written = []
    real = run_dir.save_checkpoint
    monkeypatch.setattr(run_dir, "save_checkpoint", lambda state, path: (written.append(path.name), real(state, path)))
    data = make_identity_set(tmp_path / "faces")
    assert train("--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--set", "train.epochs=1") == 0
    assert written == ["best.pt", "last.pt"]  # a kill between them replays the epoch and writes best.pt again


def test_names_that_differ_only_in_spelling_across_sources_are_refused(tmp_path):
    a = make_identity_set(tmp_path / "a", identities=2)
    b = make_identity_set(tmp_path / "b", identities=2)
    (b / "id_1").rename(b / "ID_1")
    cfg = load_config(None, [f"data.path=[{a},{b}]", "data.merge=name", "data.min_per_class=1"])
    with pytest.raises(UserError, match="identities 'ID_1' and 'id_1', which differ only by case"):
        load_data(cfg)


def test_merge_by_name_drops_a_photo_already_read_from_another_folder(tmp_path):
    a = make_identity_set(tmp_path / "a", identities=2, per_identity=4)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    cfg = load_config(None, [f"data.path=[{a},{b}]", "data.merge=name", "data.min_per_class=1", "data.test_fraction=0"])
    assert np.bincount(load_data(cfg).splits["train"][1]).tolist() == [4, 4]  # not 8 + 8: each photo once


def test_a_folder_cache_of_another_decoder_is_not_reused(tmp_path, monkeypatch):
    import lrface.imageio

    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    root = make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    load_identity_folder(root, 16)
    monkeypatch.setattr(lrface.imageio, "DECODE_VERSION", 999)
    load_identity_folder(root, 16)
    assert len(list((tmp_path / "cache" / "folders").glob("*.npz"))) == 2
