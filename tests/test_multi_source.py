"""Several training sources in one label space, open-set validation identities, and their bad inputs."""

import csv

import numpy as np
import pytest

from lrface.cli import main
from lrface.config import load_config
from lrface.data.multi import hold_out_identities, open_set_pairs
from lrface.data.packed import write_packed_set
from lrface.data.sources import load_data
from tests.conftest import make_identity_set
from tests.test_train_cli import TINY, one_line_error


def packed(root, ids, per_id, size=16, files=None):
    rng = np.random.default_rng(len(ids))
    images = rng.integers(0, 255, (len(ids) * per_id, size, size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(len(ids)), per_id)
    files = files or [f"{i}.jpg" for i in range(len(labels))]
    rows = [
        {
            "split": "all",
            "index": i,
            "label": int(lb),
            "identity": ids[lb],
            "source": f"{ids[lb]}/{files[i]}",
            "status": "aligned",
        }
        for i, lb in enumerate(labels)
    ]
    return write_packed_set(root, {"all": (images, labels)}, ids, rows)


def test_merge_by_source_or_by_name_with_duplicate_files(tmp_path):
    a = packed(tmp_path / "a", ["1", "2"], 3)
    b = packed(tmp_path / "b", ["2", "3"], 3, files=["0.jpg", "x.jpg", "y.jpg", "p.jpg", "q.jpg", "r.jpg"])
    base = [f"data.path=[{a},{b}]", "data.min_per_class=1", "data.test_fraction=0"]
    by_source = load_data(load_config(None, base))
    assert by_source.class_names == ["a/1", "a/2", "b/2", "b/3"] and len(by_source.splits["train"][1]) == 12
    by_name = load_data(load_config(None, base + ["data.merge=name"]))
    assert by_name.class_names == ["1", "2", "3"]
    assert np.bincount(by_name.splits["train"][1]).tolist() == [3, 6, 3]
    c = packed(tmp_path / "c", ["2"], 2, files=["3.jpg", "new.jpg"])  # 2/3.jpg already came from a
    dedup = load_data(
        load_config(None, [f"data.path=[{a},{c}]", "data.min_per_class=1", "data.test_fraction=0", "data.merge=name"])
    )
    assert np.bincount(dedup.splits["train"][1]).tolist() == [3, 4]


def test_single_image_identities_are_kept_and_folders_mix_with_packed_sets(tmp_path):
    a = packed(tmp_path / "a", ["s1", "s2", "s3"], 1)
    folder = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    bundle = load_data(
        load_config(None, [f"data.path=[{a},{folder}]", "data.min_per_class=1", "data.test_fraction=0.25"])
    )
    assert bundle.num_classes == 6 and "faces/id_0" in bundle.class_names
    assert len(bundle.splits["train"][1]) + len(bundle.splits["test"][1]) == 15


def test_held_out_identities_and_pairs_are_seeded_and_disjoint(tmp_path):
    labels = np.repeat(np.arange(10), 4)
    images = np.arange(40)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    names = [f"p{i}" for i in range(10)]
    splits, kept, (v_img, v_lab), held = hold_out_identities({"all": (images, labels)}, names, 0.3, seed=1)
    assert len(held) == 3 and set(held).isdisjoint(kept) and len(kept) == 7
    assert sorted(np.unique(v_lab).tolist()) == [0, 1, 2] and len(v_img) == 12
    assert set(splits["all"][1].tolist()) == set(range(7))
    assert hold_out_identities({"all": (images, labels)}, names, 0.3, seed=1)[3] == held
    assert hold_out_identities({"all": (images, labels)}, names, 4, seed=1)[3] != held
    a, b, same, fold = open_set_pairs(v_lab, seed=0, n_pairs=10, folds=5)
    assert same.sum() == 10 and len(same) == 20 and set(fold.tolist()) == set(range(5))
    assert ((v_lab[a] == v_lab[b]) == same).all() and (a != b).all()


@pytest.mark.parametrize("select", ["acc", "dense_tar1e-3"])
def test_training_scores_open_set_and_picks_best_on_it(tmp_path, select):
    data = make_identity_set(tmp_path / "faces", identities=8, per_identity=6)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "configs/face/orl-smoke.yaml",
                "--data",
                str(data),
                "--out",
                str(run),
                *TINY,
                "--set",
                "strategy=student-only",
                "--set",
                "train.epochs=2",
                "--set",
                "data.val_identities=3",
                "--set",
                "data.val_pairs=20",
                f"train.select_metric={select}",
                f"train.keep_epochs={select != 'acc'}",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    column = {"acc": "val_open_acc_student", "dense_tar1e-3": "val_open_dense_tar1e-3_student"}[select]
    assert {"val_open_tar1e-2_student", "val_open_auc_student", column} <= set(rows[0])
    import torch

    best = torch.load(run / "checkpoints/best.pt", weights_only=True)
    scores = [float(r[column]) for r in rows]
    assert best["best"] == pytest.approx(max(scores)) and len(best["class_names"]) == 5
    assert best["best_epoch"] == max(i + 1 for i, v in enumerate(scores) if v == max(scores))
    kept = sorted(p.name for p in (run / "checkpoints").glob("epoch-*.pt"))
    assert kept == ([] if select == "acc" else ["epoch-1.pt", "epoch-2.pt"])


def test_bad_sources(tmp_path, capsys):
    a = packed(tmp_path / "a", ["1", "2"], 3, size=16)
    b = packed(tmp_path / "b", ["3", "4"], 3, size=24)
    out = str(tmp_path / "run")

    def train(*extra):
        return main(["train", "--config", "configs/face/orl-smoke.yaml", "--out", out, *TINY, "--force", *extra])

    one_line_error(capsys, train("--set", f"data.path=[{a},{b}]"), "different image sizes", "a 16x16", "b 24x24")
    folder = make_identity_set(tmp_path / "faces", identities=3, per_identity=2)
    (folder / "empty_person").mkdir()
    one_line_error(capsys, train("--set", f"data.path=[{a},{folder}]"), "empty_person", "no images")
    one_line_error(capsys, train("--set", f"data.path=[{a},{tmp_path / 'nope'}]"), "nope", "does not exist")
    one_line_error(capsys, train("--data", str(a), "--set", "data.val_identities=0.9"), "data.val_identities")


def test_val_source_keeps_the_validation_set_when_sources_are_added(tmp_path):
    deep = packed(tmp_path / "deep", [f"d{i}" for i in range(10)], 4)
    wide = packed(tmp_path / "wide", ["d1", "d2", "d3"] + [f"w{i}" for i in range(20)], 1)
    base = ["data.min_per_class=1", "data.test_fraction=0", "data.merge=name", "data.val_identities=3"]
    one = load_data(load_config(None, base + [f"data.path=[{deep}]", "data.val_source=0"]))
    two = load_data(load_config(None, base + [f"data.path=[{deep},{wide}]", "data.val_source=0"]))
    (v1, l1), (v2, l2) = one.splits["val_open"], two.splits["val_open"]
    assert len(v1) == 12 and np.array_equal(v1, v2) and np.array_equal(l1, l2)
    held = sorted({f"d{i}" for i in range(10)} - set(one.class_names))
    assert len(held) == 3 and not set(held) & set(two.class_names)  # their 'wide' images are dropped, not trained
    assert len(two.splits["train"][1]) == 28 + 23 - sum(h in ("d1", "d2", "d3") for h in held)
    without = load_data(load_config(None, base + [f"data.path=[{deep},{wide}]"]))
    assert not np.array_equal(without.splits["val_open"][0], v1)  # drawn among all 30 identities instead
    with pytest.raises(Exception, match="data.val_source 2 is not an index"):
        load_config(None, base + [f"data.path=[{deep},{wide}]", "data.val_source=2"])
