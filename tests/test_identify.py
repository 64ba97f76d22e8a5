"""`lrface identify` (torch-free) and `lrface evaluate` on generated faces and ORL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import REPO, cli, generated_faces, identify_json, orl_export

from lrface.inference.gallery import is_gallery


def test_identify_in_batches_matches_one_batch(tiny, faces, tmp_path, capsys, monkeypatch):
    """Probes embedded batch by batch in the background thread give the answers of a single batch,
    in probe order, and an unreadable file among them is skipped with a warning."""
    from lrface.inference import identify

    gal, probes = faces
    (probes / "Bob" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny[1], "--out", g) == 0
    whole = identify_json(capsys, probes, "--gallery", g, "--top-k", "3")
    monkeypatch.setattr(identify, "PROBE_BATCH", 4)
    capsys.readouterr()
    assert cli("identify", probes, "--gallery", g, "--top-k", "3", "--json") == 0
    out = capsys.readouterr()
    assert "skipped" in out.err and "broken.png" in out.err
    batched = json.loads(out.out)
    assert len(batched) == len(whole) == 18
    assert [r["probe"] for r in batched] == [r["probe"] for r in whole]
    assert [[m["identity"] for m in r["matches"]] for r in batched] == [
        [m["identity"] for m in r["matches"]] for r in whole
    ]
    assert np.allclose(
        [[m["score"] for m in r["matches"]] for r in batched],
        [[m["score"] for m in r["matches"]] for r in whole],
        atol=1e-5,
    )


@pytest.mark.parametrize("index,template", [("flat", "all"), ("ivf", "mean"), ("hnsw", "all")])
def test_identify_generated_set_finds_the_right_person(tiny, faces, tmp_path, capsys, index, template):
    gal, probes = faces
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny[1], "--out", g, "--index", index, "--template", template) == 0
    res = identify_json(capsys, probes, "--gallery", g, "--top-k", "2")
    assert len(res) == 18
    assert all(r["identity"] == Path(r["probe"]).parent.name for r in res)
    assert all(len(r["matches"]) == 2 and r["matches"][0]["score"] >= r["matches"][1]["score"] for r in res)
    assert cli("gallery", "remove", g, "--identity", "d") == 0
    res = identify_json(capsys, probes / "d", "--gallery", g)
    assert all(r["identity"] != "d" for r in res)


def test_unknown_below_threshold_and_plain_folder_gallery_is_cached(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    stranger, _ = generated_faces(n_ids=1, per_id=1, seed=99)
    cv2.imwrite(str(tmp_path / "stranger.png"), stranger[0])
    res = identify_json(
        capsys,
        probes / "e" / "0037.png",
        tmp_path / "stranger.png",
        "--gallery",
        gal,
        "--model",
        tiny[1],
        "--threshold",
        "0.9",
    )
    assert res[0]["identity"] == "e" and res[0]["score"] >= 0.9
    assert res[1]["identity"] == "unknown" and res[1]["score"] < 0.9
    cache = [p for p in (gal / ".lrface-gallery").iterdir() if p.is_dir()]
    assert len(cache) == 1 and is_gallery(cache[0])
    (gal / "f" / "0040.png").unlink()  # folder changed: rebuilt, old cache dropped
    identify_json(capsys, probes / "e" / "0037.png", "--gallery", gal, "--model", tiny[1])
    new = [p for p in (gal / ".lrface-gallery").iterdir() if p.is_dir()]
    assert len(new) == 1 and new != cache


def test_identify_imports_no_torch(tiny, faces, tmp_path):
    gal, probes = faces
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny[1], "--out", g) == 0
    code = (
        "import sys, lrface.cli; rc = lrface.cli.main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert sys.argv[1] == 'gallery' or 'faiss' not in sys.modules, 'faiss imported for a flat gallery'; "
        "sys.exit(rc)"
    )
    for args in (
        ["identify", str(probes / "Bob" / "0013.png"), "--gallery", str(g)],
        ["gallery", "list", str(g)],
        ["evaluate", "--gallery", str(g), str(probes), "--out", str(tmp_path / "ev")],
    ):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, cwd=REPO, timeout=120
        )
        assert r.returncode == 0, r.stderr
    assert (
        "\tBob\t"
        in subprocess.run(
            [sys.executable, "-c", code, "identify", str(probes / "Bob" / "0013.png"), "--gallery", str(g)],
            check=False,
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout
    )


def test_identify_orl(tmp_path_factory, tmp_path, capsys):
    root, model = orl_export(tmp_path_factory.mktemp("orl"))
    gal = tmp_path / "gal"  # images 01-05 enrolled (symlinks, nothing copied), 06-10 are probes
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        (gal / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.png"))[:5]:
            (gal / d.name / f.name).symlink_to(f)
    probes = [f for d in sorted(p for p in root.iterdir() if p.is_dir()) for f in sorted(d.glob("*.png"))[5:]]
    res = identify_json(capsys, *probes, "--gallery", gal, "--model", model)
    acc = np.mean([r["identity"] == Path(r["probe"]).parent.name for r in res])
    assert len(res) == 200 and acc >= 0.75, acc  # chance is 2.5 %


def test_evaluate_open_set_and_packed(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    for n in ("e", "f"):  # two identities only among the probes: the unknowns
        for f in (gal / n).iterdir():
            f.unlink()
        (gal / n).rmdir()
    capsys.readouterr()
    assert cli("evaluate", "--model", tiny[1], "--gallery", gal, probes, "--out", tmp_path / "ev", "--json") == 0
    m = json.loads(capsys.readouterr().out)
    assert (m["known_probes"], m["unknown_probes"], m["top1"], m["top5"]) == (12, 6, 1.0, 1.0)
    assert [r["far"] for r in m["open_set"]] == [0.01, 0.05, 0.1] and 0 <= m["open_set"][0]["dir"] <= 1
    assert (tmp_path / "ev" / "cmc.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["top1"] == 1.0
    packed = tiny[0].parent / "packed"
    assert (
        cli(
            "evaluate", "--model", tiny[1], "--packed", packed, "--holdout", "0.34", "--out", tmp_path / "ev2", "--json"
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert m["gallery_identities"] == 4 and len(m["held_out_identities"]) == 2 and m["top1"] == 1.0


def test_grayscale_rgba_16bit_probes_work(tiny, faces, tmp_path, capsys):
    src = cv2.imread(str(faces[1] / "Bob" / "0013.png"))
    cv2.imwrite(str(tmp_path / "gray.png"), cv2.cvtColor(src, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(src, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), src.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray16.pgm"), cv2.cvtColor(src, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    res = identify_json(
        capsys,
        *(tmp_path / n for n in ("gray.png", "rgba.png", "deep.png", "gray16.pgm")),
        "--gallery",
        faces[0],
        "--model",
        tiny[1],
    )
    assert len(res) == 4 and res[1]["identity"] == "Bob" and res[2]["identity"] == "Bob"
