"""Sources whose identities meet ambiguously (one line, exit 2), merge=name joins reported, and sources
in which no face was found (prepare warns; train refuses, exit 2, unless data.allow_no_face)."""

import json

import numpy as np
import pytest
from PIL import Image

from lrface.cli import main
from lrface.config import load_config
from lrface.data.packed import write_packed_set
from lrface.data.sources import load_data
from lrface.errors import UserError
from tests.test_multi_source import packed
from tests.test_train_cli import TINY, one_line_error


def train(tmp_path, *extra):
    out = str(tmp_path / "run")
    return main(["train", "--config", "configs/face/orl-smoke.yaml", "--out", out, *TINY, "--force", *extra])


def test_two_sources_named_alike_are_refused_under_merge_by_source(tmp_path, capsys):
    a = packed(tmp_path / "x" / "faces", ["1", "2"], 3)
    b = packed(tmp_path / "y" / "faces", ["1", "3"], 3)
    rc = train(tmp_path, "--set", f"data.path=[{a},{b}]")
    one_line_error(capsys, rc, "both named 'faces'", "data.merge=name")
    assert not (tmp_path / "run").exists()
    rc = train(
        tmp_path, "--set", f"data.path=[{a},{tmp_path / 'x' / '..' / 'x' / 'faces'}]", "--set", "data.merge=name"
    )
    one_line_error(capsys, rc, "twice")


def test_merge_by_name_joins_equal_names_and_says_how_many(tmp_path, capsys):
    a = packed(tmp_path / "x" / "faces", ["1", "2"], 3)
    b = packed(tmp_path / "y" / "faces", ["2", "3"], 3, files=[f"{k}.png" for k in range(6)])
    base = [f"data.path=[{a},{b}]", "data.min_per_class=1", "data.test_fraction=0", "data.merge=name"]
    bundle = load_data(load_config(None, base))
    assert bundle.class_names == ["1", "2", "3"]
    err = capsys.readouterr().err
    assert "data.merge=name joins 1 identities found in more than one source (e.g. 2)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_folder_of_unreadable_images_is_one_line(tmp_path, capsys):
    a = packed(tmp_path / "a", ["1", "2"], 3)
    bad = tmp_path / "bad"
    for who in ("p", "q"):
        (bad / who).mkdir(parents=True)
        (bad / who / "0.jpg").write_bytes(b"not an image")
    one_line_error(capsys, train(tmp_path, "--set", f"data.path=[{a},{bad}]"), "none of its 2 images could be read")


def test_training_on_a_set_prepared_without_finding_a_face_is_refused_unless_allowed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8), np.repeat([0, 1], 3)
    rows = [
        {"split": "all", "index": i, "label": int(lb), "identity": "ab"[lb], "source": f"{i}.png"}
        for i, lb in enumerate(labels)
    ]
    params = {"status_counts": {"box-only": 6}}
    root = write_packed_set(tmp_path / "boxes", {"all": (images, labels)}, ["a", "b"], rows, params=params)
    base = ["data.min_per_class=1", "data.test_fraction=0.3"]
    other = write_packed_set(tmp_path / "faces", {"all": (images, labels)}, ["c", "d"], rows, params={})
    for path in (str(root), f"[{other},{root}]"):  # alone, and as the second of two sources
        with pytest.raises(UserError, match=r"no face found in any image of .*boxes \(all 6 crops.*allow_no_face=true"):
            load_data(load_config(None, [f"data.path={path}", *base]))
    one_line_error(capsys, train(tmp_path, "--set", f"data.path={root}"), "no face found", "allow_no_face=true")
    assert not (tmp_path / "run").exists()
    load_data(load_config(None, [f"data.path={root}", "data.allow_no_face=true", *base]))
    err = capsys.readouterr().err
    assert "warning: no face found in any image of" in err and "all 6 crops" in err
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["params"]["status_counts"] = {"aligned": 6}
    (root / "manifest.json").write_text(json.dumps(manifest))
    load_data(load_config(None, [f"data.path={root}", *base]))
    assert "no face found" not in capsys.readouterr().err


def test_prepare_warns_when_no_image_held_a_face(tmp_path, capsys):
    root = tmp_path / "noise"
    rng = np.random.default_rng(0)
    for k in range(2):
        (root / "x").mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((120, 100, 3)) * 255).astype(np.uint8)).save(root / "x" / f"{k}.png")
    rc = main(["prepare", "folder", str(root), "--out", str(tmp_path / "o"), "--workers", "1"])
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "no face found" in ln]
    assert rc == 0 and len(warnings) == 1 and "all 2 crops are the whole image" in warnings[0]
