"""Serving: galleries, `lrface identify` (torch-free), `lrface evaluate`, and bad input."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import (
    NAMES,
    generated_faces,
    make_run,
    orl_export,
    write_identity_folder,
)

from lrface.cli import main
from lrface.inference.gallery import Gallery, is_gallery

REPO = Path(__file__).resolve().parents[1]


def cli(*args) -> int:
    return main([str(a) for a in args])


def identify_json(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert cli("identify", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def assert_one_line_error(capsys, rc, needle):
    err = capsys.readouterr().err
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lrface ") and ": error: " in last and needle in last, err


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


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels (a decompression bomb for the size check)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing", "file not found"),
        ("empty", "zero-byte"),
        ("text", "not a readable image"),
        ("huge", "megapixels"),
        ("folder-empty", "has no images"),
    ],
)
def test_bad_probe(tiny, faces, tmp_path, capsys, kind, needle):
    probe = tmp_path / "p.png"
    if kind == "empty":
        probe.write_bytes(b"")
    elif kind == "text":
        probe.write_text("hello")
    elif kind == "huge":
        _png_header_only(probe, 20000, 20000)
    elif kind == "folder-empty":
        probe = tmp_path / "nothing"
        probe.mkdir()
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", faces[0], "--model", tiny[1]), needle)


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


@pytest.mark.parametrize("kind", ["truncated", "not-onnx", "foreign-onnx"])
def test_bad_model_file(tiny, faces, tmp_path, capsys, kind):
    model = tmp_path / "m.onnx"
    data = Path(tiny[1]).read_bytes()
    if kind == "truncated":
        model.write_bytes(data[: len(data) // 2])
    elif kind == "not-onnx":
        model.write_text("not a model")
    else:
        import onnx

        m = onnx.load_from_string(data)
        del m.metadata_props[:]
        model.write_bytes(m.SerializeToString())
    rc = cli("identify", faces[1] / "Bob" / "0013.png", "--gallery", faces[0], "--model", model)
    assert_one_line_error(capsys, rc, "not" if kind != "foreign-onnx" else "lrface metadata")


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


def test_only_photo_formats_reach_a_decoder():
    """Untrusted bytes never reach Pillow's EPS plugin (it runs Ghostscript) or other exotic decoders."""
    import io

    from PIL import Image

    from lrface.imageio import BadImage, decode_image

    for fmt in ("EPS", "TGA", "ICO"):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, fmt)
        with pytest.raises(BadImage) as e:
            decode_image(buf.getvalue(), f"x.{fmt.lower()}")
        assert e.value.reason == "not-an-image", (fmt, e.value)
    for fmt in ("GIF", "TIFF", "JPEG", "BMP", "PPM", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, fmt)
        assert decode_image(buf.getvalue(), fmt).shape == (32, 32, 3)
