"""tools/compare_runs.py's unseen-people validation: the people kept, and TAR / top-1 by hand."""

import sys
from pathlib import Path

import numpy as np
import pytest

from lrface.data.packed import write_packed_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import compare_runs  # noqa: E402
import epoch_scores  # noqa: E402


def _unit(degrees):
    a = np.radians(degrees)
    return np.stack([np.cos(a), np.sin(a)], 1)


def test_tar_and_top1_of_a_hand_made_embedding():
    # three people, two faces each; the second face of person 2 (120 deg) lies nearer person 1 (90 deg)
    emb, labels = _unit([0, 10, 90, 100, 180, 120]), np.array([0, 0, 1, 1, 2, 2])
    m = compare_runs.unseen_metrics(emb, labels)
    assert (m["identities"], m["faces"], m["genuine"], m["impostors"]) == (3, 6, 3, 12)
    # highest impostor: 120 vs 100 deg (cos 20 = 0.940); genuine cos 10, cos 10 pass, cos 60 does not
    assert m["tar"]["0.01"] == pytest.approx(2 / 3)
    assert m["top1"] == pytest.approx(2 / 3)  # 10 -> person 0, 100 -> person 1, 120 -> person 1 (wrong)


def test_the_unseen_set_drops_trained_people_and_people_with_one_face(tmp_path):
    def packed(name, names, labels):
        images = np.zeros((len(labels), 16, 16, 3), np.uint8) + np.array(labels, np.uint8)[:, None, None, None]
        rows = [{"split": "all", "index": i, "label": int(lb), "identity": names[lb]} for i, lb in enumerate(labels)]
        return write_packed_set(tmp_path / name, {"all": (images, np.array(labels))}, names, rows)

    pool = packed("pool", ["a", "b", "c", "d"], [0, 0, 1, 1, 2, 3, 3])  # c has one face
    trained = packed("trained", ["b", "x"], [0, 1])
    images, labels = compare_runs.unseen_set(pool, [trained])
    assert sorted(set(labels.tolist())) == [0, 3] and len(labels) == 4  # a and d stay
    assert images[:, 0, 0, 0].tolist() == labels.tolist()


def test_epoch_rules_pick_the_best_later_epoch_on_ties(tmp_path):
    rows = [
        {"epoch": 1, "val_acc": 80.0, "val_dense_tar1e-3": 5.0},
        {"epoch": 2, "val_acc": 81.0, "val_dense_tar1e-3": 3.0},
        {"epoch": 3, "val_acc": 81.0, "val_dense_tar1e-3": 4.0},
        {"epoch": 4, "val_acc": 79.0, "val_dense_tar1e-3": 5.0},
    ]
    picks = {rule: epoch_scores.choose(rows[::-1], rule)["epoch"] for rule in ("acc", "dense_tar1e-3", "last")}
    assert picks == {"acc": 3, "dense_tar1e-3": 4, "last": 4}
    for name in ("epoch-10.pt", "epoch-2.pt", "last.pt", "epoch-x.pt"):
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / name).touch()
    assert [e for e, _ in epoch_scores.kept_epochs(tmp_path)] == [2, 10]


def test_misaligned_probes_leave_the_enrolled_faces_and_are_seeded():
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[:, 4:12, 4:12] = np.array([40, 80, 120, 160], np.uint8)[:, None, None, None]  # a square face on black
    moved = compare_runs.misalign(images)
    np.testing.assert_array_equal(moved, compare_runs.misalign(images))
    assert not np.array_equal(moved, compare_runs.misalign(images, seed=1))
    # every face shrunk by 0.7-0.9 on a side: 49-81 % of its brightness left (black border reflected)
    assert np.all(
        (moved.sum((1, 2, 3)) / images.sum((1, 2, 3)) < 0.85) & (moved.sum((1, 2, 3)) / images.sum((1, 2, 3)) > 0.45)
    )

    class Recorder:  # embeds a face as (1, its brightness), and keeps what it was asked to embed
        calls: list = []

        def embed(self, faces):
            faces = np.asarray(faces)
            self.calls.append(faces)
            v = np.stack([np.ones(len(faces)), faces.mean((1, 2, 3)) / 255], 1)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    rec = Recorder()
    out = compare_runs.unseen_scores(rec, images, np.array([0, 0, 1, 1]), misaligned=True)
    assert set(out) == {"unseen", "unseen_misaligned"}
    np.testing.assert_array_equal(rec.calls[1], compare_runs.misalign(images[[1, 3]]))


def test_without_run_dirs_models_need_a_validation_to_score(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["compare_runs.py", "--models", "sr18-celeba-x2hs"])
    with pytest.raises(SystemExit) as e:
        compare_runs.main()
    assert e.value.code == 2 and "--models with --unseen and/or --lfw" in capsys.readouterr().err


def test_runs_are_grouped_by_their_validation_not_their_seed():
    faces = [np.full((16, 16, 3), i, np.uint8) for i in range(4)]
    pairs = (np.array([0, 1]), np.array([2, 3]), np.array([True, False]), np.array([0, 1]))
    val = (5, faces, np.array([0, 0, 1, 1]), *pairs)
    same = (5, [f.copy() for f in faces], np.array([0, 0, 1, 1]), *pairs)
    other_people = (5, faces[::-1], np.array([0, 0, 1, 1]), *pairs)  # one seed, other held-out faces
    assert compare_runs.validation_digest(val) == compare_runs.validation_digest(same)
    assert compare_runs.validation_digest(val) != compare_runs.validation_digest(other_people)
