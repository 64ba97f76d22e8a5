"""`lrface gallery` build/add/remove/list, exact search vs FAISS, and bad gallery input: names, models,
damaged files, a kill mid-build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from serving_helpers import (
    NAMES,
    REPO,
    assert_one_line_error,
    cli,
    generated_faces,
    identify_json,
    make_run,
    write_identity_folder,
)

from lrface.inference.gallery import Gallery, is_gallery


def test_gallery_build_add_remove_list(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny[1], "--out", g) == 0
    capsys.readouterr()
    assert cli("gallery", "list", g, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert {r["identity"]: r["samples"] for r in listing["identities"]} == {n: 5 for n in NAMES}
    # the same file twice does nothing; new files of a new identity (spaces, unicode) are added
    assert cli("gallery", "add", g, gal / "Bob" / "0008.png", "--identity", "Bob") == 0
    assert "added 0 images" in capsys.readouterr().out
    assert cli("gallery", "add", g, probes / "Zoë", "--identity", "Renée O'Neil 2") == 0
    assert "added 3 images" in capsys.readouterr().out
    assert cli("gallery", "remove", g, "--identity", "Bob") == 0
    capsys.readouterr()
    assert cli("gallery", "list", g) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == sorted(set(NAMES) - {"Bob"} | {"Renée O'Neil 2"})
    res = identify_json(capsys, probes / "Bob" / "0013.png", probes / "d", "--gallery", g, "--top-k", "3")
    assert "Bob" not in {m["identity"] for r in res for m in r["matches"]}
    assert [r["identity"] for r in res[1:]] == ["d"] * 3
    assert len([p for p in g.iterdir() if p.suffix == ".faiss"]) == 1  # old generations dropped
    assert_one_line_error(capsys, cli("gallery", "remove", g, "--identity", "Bob"), "not in the gallery")


@pytest.mark.parametrize("template", ["mean", "all"])
def test_exact_numpy_search_matches_faiss_flat(tiny, faces, tmp_path, template):
    from lrface.inference.gallery import Gallery
    from lrface.inference.vector_index import ExactIP

    g = tmp_path / "g"
    assert cli("gallery", "build", faces[0], "--model", tiny[1], "--out", g, "--template", template) == 0
    exact, with_faiss = Gallery.open(g), Gallery.open(g, writable=True)
    assert isinstance(exact.index, ExactIP) and not isinstance(with_faiss.index, ExactIP)
    q = np.random.default_rng(0).standard_normal((300, exact.dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for k in (1, 3, 50):
        a, b = exact.search(q, k), with_faiss.search(q, k)
        assert [[n for n, _ in r] for r in a] == [[n for n, _ in r] for r in b]
        assert np.allclose([[v for _, v in r] for r in a], [[v for _, v in r] for r in b], atol=1e-5)
    pointer = json.loads((g / "gallery.json").read_text())  # a gallery saved before vectors-*.npz existed
    del pointer["flat"]
    (g / "gallery.json").write_text(json.dumps(pointer))
    old = Gallery.open(g)
    assert not isinstance(old.index, ExactIP)
    assert [r[0][0] for r in old.search(q, 1)] == [r[0][0] for r in exact.search(q, 1)]


def test_bad_gallery_folders_and_names(tiny, faces, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(capsys, cli("gallery", "build", empty, "--model", tiny[1]), "no identity sub-folders")
    assert not (tmp_path / "empty.gallery").exists()
    one = tmp_path / "one"
    (one / "Bob").mkdir(parents=True)
    (one / "Bob" / "a.png").symlink_to(faces[0] / "Bob" / "0008.png")
    assert cli("gallery", "build", one, "--model", tiny[1]) == 0
    assert "single identity" in capsys.readouterr().err
    g = tmp_path / "one.gallery"
    for bad in ("../evil", "a/b", ".hidden"):
        assert_one_line_error(capsys, cli("gallery", "add", g, faces[0] / "d", "--identity", bad), "looks like a path")
    assert_one_line_error(capsys, cli("gallery", "build", one, "--model", tiny[1]), "already a gallery")


def test_model_and_gallery_must_match(tiny, faces, tmp_path, capsys):
    g = tmp_path / "g"
    assert cli("gallery", "build", faces[0], "--model", tiny[1], "--out", g) == 0
    images, labels = generated_faces(n_ids=3, per_id=3, seed=5)
    from lrface.export import export_onnx

    other = export_onnx(make_run(tmp_path / "r2", images, labels, ["a", "b", "c"], steps=2, seed=1), log=lambda m: None)
    wide = export_onnx(
        make_run(
            tmp_path / "r3",
            images,
            labels,
            ["a", "b", "c"],
            arch="sresnet18",
            steps=1,
            kwargs={"widths": (4, 4, 4, 12)},
        ),
        log=lambda m: None,
    )
    probe = faces[1] / "Bob" / "0013.png"
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", g, "--model", other), "was built with model")
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", g, "--model", wide), "12-d")
    assert_one_line_error(
        capsys, cli("gallery", "add", g, probe, "--identity", "x", "--model", other), "was built with model"
    )


@pytest.mark.parametrize("part", ["faiss", "sqlite", "sqlite-garbage", "pointer", "npz", "npz-garbage"])
def test_damaged_gallery_files(tiny, faces, tmp_path, capsys, part):
    g = tmp_path / "g"
    assert cli("gallery", "build", faces[0], "--model", tiny[1], "--out", g) == 0
    if part == "pointer":
        (g / "gallery.json").write_text("{")
    else:
        f = next(g.glob({"faiss": "*.faiss", "npz": "*.npz", "npz-garbage": "*.npz"}.get(part, "*.sqlite")))
        data = f.read_bytes()
        if part.endswith("-garbage"):  # same size, so the size check passes and the reader must notice
            f.write_bytes(b"\0" * 100 + data[100:])
        else:
            f.write_bytes(data[: len(data) // 2])
    rc = cli("identify", faces[1] / "Bob" / "0013.png", "--gallery", g)
    assert_one_line_error(capsys, rc, "rebuild")


def test_kill_during_gallery_build_then_rerun_completes(tiny, tmp_path):
    images, labels = generated_faces(n_ids=40, per_id=25, seed=2)
    folder = write_identity_folder(tmp_path / "big", images, labels, [f"id{i:02d}" for i in range(40)])
    g = tmp_path / "g"
    cmd = [
        sys.executable,
        "-m",
        "lrface.cli",
        "gallery",
        "build",
        str(folder),
        "--model",
        str(tiny[1]),
        "--out",
        str(g),
    ]
    p = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert "embedding 1000 images" in p.stderr.readline()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not is_gallery(g)  # nothing half-built is presented as a gallery
    r = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    gal = Gallery.open(g)
    assert gal.count_identities() == 40 and gal.index.ntotal == 40
    assert sorted(p.suffix for p in g.iterdir() if not p.name.startswith(".")) == [".faiss", ".json", ".npz", ".sqlite"]


def test_enormous_identity_name_is_one_line(tiny, faces, tmp_path, capsys):
    g = tmp_path / "g"
    assert cli("gallery", "build", faces[0], "--model", tiny[1], "--out", g) == 0
    probe = faces[1] / "Bob" / "0013.png"
    capsys.readouterr()
    for args in (["add", g, probe], ["remove", g]):
        rc = cli("gallery", *args, "--identity", "x" * 10_000)
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1 and len(err) < 200, err
        assert "is 10000 characters long; use a name of at most 255" in err
    assert Gallery.open(g).count_identities() == len(NAMES)
