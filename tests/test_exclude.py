"""data.exclude: identities named in other sources are left out of training, before the hold-out and splits."""

import numpy as np

from lrface.cli import main
from lrface.config import load_config
from lrface.data.packed import write_packed_set
from lrface.data.sources import load_data
from tests.conftest import make_identity_set
from tests.test_train_cli import TINY, one_line_error


def marked(root, ids, per_id=4, size=16):
    """A packed set whose every image of identity ``ids[k]`` carries the mark ``mark(ids[k])`` in pixel (0, 0)."""
    rng = np.random.default_rng(len(ids))
    labels = np.repeat(np.arange(len(ids)), per_id)
    images = rng.integers(0, 255, (len(labels), size, size, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = [mark(ids[lb]) for lb in labels]
    rows = [
        {"split": "all", "index": i, "label": int(lb), "identity": ids[lb], "source": f"{ids[lb]}/{i}.jpg"}
        for i, lb in enumerate(labels)
    ]
    return write_packed_set(root, {"all": (images, labels)}, ids, rows)


def mark(name: str) -> int:
    return sum(name.encode()) % 251


def names_only(root, ids):
    """A packed set naming ``ids`` (one image each): only its class names should matter."""
    return marked(root, ids, per_id=1)


def load(*overrides):
    return load_data(
        load_config(None, ["data.min_per_class=1", "data.test_fraction=0.25", "data.cache=false", *overrides])
    )


def marks_of(bundle) -> set[int]:
    return {int(m) for images, _ in bundle.splits.values() for m in images[:, 0, 0, 0]}


def test_packed_exclusion_removes_the_names_everywhere_and_relabels_densely(tmp_path, capsys):
    ids = [f"p{i}" for i in range(12)]
    data = marked(tmp_path / "data", ids)
    gone = ["p3", "p7", "p10"]
    target = names_only(tmp_path / "target", gone + ["stranger"])
    full = load(f"data.path={data}", "data.val_identities=2")
    bundle = load(f"data.path={data}", f"data.exclude=[{target}]", "data.val_identities=2")
    assert "data.exclude removed 3 identities (12 images)" in capsys.readouterr().err
    assert set(bundle.class_names).isdisjoint(gone)
    assert bundle.num_classes == 12 - 3 - 2
    for name in ("train", "test"):
        assert set(bundle.splits[name][1].tolist()) == set(range(bundle.num_classes))  # dense labels
    assert not {mark(g) for g in gone} & marks_of(bundle)  # their images are in no split, val_open included
    assert {mark(g) for g in gone} <= marks_of(full)  # ... and would be without data.exclude (the test can fail)
    assert sum(len(v[1]) for v in bundle.splits.values()) == 4 * 9


def test_result_equals_a_set_filtered_beforehand(tmp_path):
    ids = [f"p{i}" for i in range(14)]
    data = marked(tmp_path / "data", ids, per_id=5)
    kept = [c for c in ids if c not in ("p0", "p5", "p6")]
    keep = np.repeat([c in kept for c in ids], 5)  # the same set filtered by hand, as the one-off script did
    images, labels = np.load(data / "all" / "images.npy")[keep], np.repeat(np.arange(len(kept)), 5)
    filtered = write_packed_set(tmp_path / "filtered", {"all": (images, labels)}, kept, [])
    target = make_identity_set(tmp_path / "target", identities=1)
    (target / "id_0").rename(target / "p0")
    for name in ("p5", "p6"):
        (target / name).mkdir()
        (target / name / "0.jpg").write_bytes(b"not an image: only the folder names are read")
    common = ["data.val_identities=3", "train.seed=5", "data.merge=name"]
    a = load(f"data.path=[{data}]", f"data.exclude={target}", *common)
    b = load(f"data.path=[{filtered}]", *common)
    assert a.class_names == b.class_names and set(a.splits) == set(b.splits) == {"train", "test", "val_open"}
    for k in a.splits:
        assert np.array_equal(a.splits[k][0], b.splits[k][0]) and np.array_equal(a.splits[k][1], b.splits[k][1])


def test_several_sources_by_name_and_by_source(tmp_path, capsys):
    a = marked(tmp_path / "a", ["1", "2", "3"])
    b = marked(tmp_path / "b", ["2", "4", "5"])
    target = names_only(tmp_path / "t", ["2", "5"])
    paths = [f"data.path=[{a},{b}]", f"data.exclude=[{target}]"]
    by_name = load(*paths, "data.merge=name")
    assert by_name.class_names == ["1", "3", "4"]
    assert "removed 2 identities (12 images)" in capsys.readouterr().err
    by_source = load(*paths, "data.merge=source")
    assert by_source.class_names == ["a/1", "a/3", "b/4"]  # the plain name is matched, both a/2 and b/2 go
    assert "removed 2 identities (12 images, 3 classes)" in capsys.readouterr().err
    for bundle in (by_name, by_source):
        assert mark("2") not in marks_of(bundle) and mark("5") not in marks_of(bundle)
        assert set(bundle.splits["train"][1].tolist()) == {0, 1, 2}


def test_val_source_draws_among_the_remaining_identities(tmp_path):
    deep = marked(tmp_path / "deep", [f"d{i}" for i in range(10)])
    wild = marked(tmp_path / "wild", ["d1", "w1", "w2"])
    common = ["data.merge=name", "data.val_identities=3", "data.val_source=0", "train.seed=3"]
    bundle = load(f"data.path=[{deep},{wild}]", f"data.exclude=[{wild}]", *common)
    assert set(bundle.class_names).isdisjoint({"d1", "w1", "w2"}) and bundle.num_classes == 6
    v_images, v_labels = bundle.splits["val_open"]
    assert len(np.unique(v_labels)) == 3 and mark("d1") not in set(v_images[:, 0, 0, 0].tolist())


def test_a_folder_training_source_and_a_note_when_nothing_is_removed(tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=5, per_identity=4)
    target = make_identity_set(tmp_path / "target", identities=2, per_identity=1)
    bundle = load(f"data.path={faces}", f"data.exclude={target}")
    assert bundle.class_names == ["id_2", "id_3", "id_4"]
    stranger = names_only(tmp_path / "stranger", ["x", "y"])
    assert load(f"data.path={faces}", f"data.exclude={stranger}").num_classes == 5
    err = capsys.readouterr().err
    assert "removed 2 identities (8 images)" in err and "names none of the training identities" in err


def test_bad_exclusions_are_one_line_and_write_nothing(tmp_path, capsys):
    data = marked(tmp_path / "data", ["1", "2", "3"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    everyone = names_only(tmp_path / "everyone", ["1", "2", "3", "4"])
    run = tmp_path / "run"

    def train(exclude):
        args = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), *TINY]
        return main(args + ["--set", f"data.exclude=[{exclude}]", "--set", "data.min_per_class=1"])

    one_line_error(capsys, train(tmp_path / "nope"), "data.exclude", "nope", "does not exist")
    one_line_error(capsys, train(tmp_path / "file.txt"), "data.exclude", "neither a packed set nor an identity folder")
    one_line_error(capsys, train(tmp_path / "empty"), "data.exclude", "no identity sub-folders")
    one_line_error(capsys, train(everyone), "data.exclude", "removes all 3 training identities")
    assert not run.exists()
