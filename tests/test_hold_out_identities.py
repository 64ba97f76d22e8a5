"""tools/hold_out_identities.py: the held-out people are unseen, multi-face, disjoint from training, seeded."""

import csv
import sys
from pathlib import Path

import numpy as np

from lrface.data.packed import read_packed_set, write_packed_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import hold_out_identities  # noqa: E402


def _packed(root, names, labels):
    images = np.zeros((len(labels), 16, 16, 3), np.uint8) + np.arange(len(labels), dtype=np.uint8)[:, None, None, None]
    rows = [
        {"split": "all", "index": i, "label": lb, "identity": names[lb], "source": f"{names[lb]}/{i}.jpg"}
        for i, lb in enumerate(labels)
    ]
    return write_packed_set(root, {"all": (images, np.array(labels))}, names, rows)


def _split(tmp_path, seed=0, tag=""):
    train, val = tmp_path / f"train{tag}", tmp_path / f"val{tag}"
    rc = hold_out_identities.main(
        [
            str(tmp_path / "pool"),
            "--exclude",
            str(tmp_path / "seen"),
            "--hold-out",
            "0.5",
            "--seed",
            str(seed),
            "--train-out",
            str(train),
            "--val-out",
            str(val),
        ]
    )
    return rc, read_packed_set(train), read_packed_set(val)


def test_the_split_holds_out_half_of_the_unseen_multi_face_people(tmp_path):
    names = ["s", "a", "b", "c", "d", "one"]  # s is seen elsewhere, "one" has a single face
    _packed(tmp_path / "pool", names, [0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5])
    _packed(tmp_path / "seen", ["s"], [0])
    rc, train, val = _split(tmp_path)
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["pool", "seen", "train", "val"]
    assert len(val.class_names) == 2 and set(val.class_names) <= {"a", "b", "c", "d"}
    assert set(train.class_names) == set(names) - set(val.class_names)  # the seen person and "one" train
    # every face went to exactly one side, with its own pixels and a label of its own identity
    pixels = {int(im[0, 0, 0]) for ps in (train, val) for im in ps.splits["all"][0]}
    assert pixels == set(range(12))
    for ps in (train, val):
        images, labels = ps.splits["all"]
        with open(ps.root / "items.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r, im, lb in zip(rows, images, labels, strict=True):
            assert r["identity"] == ps.class_names[lb] and int(r["label"]) == lb
            assert r["source"] == f"{r['identity']}/{int(im[0, 0, 0])}.jpg"
    _, _, again = _split(tmp_path, tag="2")
    assert again.class_names == val.class_names  # seeded


def test_an_existing_output_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    _packed(tmp_path / "pool", ["a", "b", "c"], [0, 0, 1, 1, 2, 2])
    _packed(tmp_path / "seen", ["x"], [0])
    (tmp_path / "val").mkdir()
    rc = hold_out_identities.main(
        [
            str(tmp_path / "pool"),
            "--exclude",
            str(tmp_path / "seen"),
            "--train-out",
            str(tmp_path / "train"),
            "--val-out",
            str(tmp_path / "val"),
        ]
    )
    assert rc == 2 and "exists" in capsys.readouterr().err
    assert not (tmp_path / "train").exists()
