"""The Python API (Recognizer, Gallery), `lrface verify|embed`, calibration, the shared threshold rule,
the packaged-model default and the tiny-probe check (all torch-free on the serving side)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import NAMES, generated_faces, package_model, run_cli, write_identity_folder

import lrface
from lrface.cli import main
from lrface.errors import UserError
from lrface.imageio import BadImage

REPO = Path(__file__).resolve().parents[1]


def test_api_end_to_end(tiny, faces, tmp_path):
    gal, probes = faces
    rec = lrface.Recognizer(tiny[1])
    g = lrface.Gallery.create(tmp_path / "g", rec)
    assert len(g) == 0 and g.calibration is None
    for name in NAMES:
        files = sorted((gal / name).glob("*.png"))
        r = g.add(name, files[:3])  # paths
        assert (r.added, r.duplicates) == (3, 0)
        r = g.add(
            name, [files[3].read_bytes(), cv2.imread(str(files[4]))[..., ::-1].copy(), files[0]]
        )  # bytes, array, dup
        assert (r.added, r.duplicates) == (2, 1)
    assert g.identities() == {n: 5 for n in NAMES}
    reopened = lrface.Gallery.open(tmp_path / "g")
    assert reopened.identities() == g.identities()

    probe_files = sorted(probes.glob("*/*.png"))
    results = rec.identify(probe_files, g, top_k=3)
    assert len(results) == 18 and all(isinstance(r, lrface.api.Identification) for r in results)
    correct = np.mean([r.identity == Path(r.probe).parent.name for r in results])
    assert correct == 1.0, correct  # as the CLI's identify of the same gallery (test_identify); chance is 1/6
    assert all(len(r.matches) == 3 and r.matches[0].score >= r.matches[1].score for r in results)
    assert results[0].threshold is None and "always named" in results[0].threshold_source

    emb = rec.embed(probe_files[:4])
    assert emb.shape == (4, rec.dim) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert np.allclose(rec.embed(probe_files[0]), emb[:1], atol=1e-6)

    same = rec.verify(probes / "Bob" / "0013.png", gal / "Bob" / "0008.png", threshold=-1.0)
    assert same.same and tuple(same) == (True, same.score)
    different = rec.verify(probes / "Bob" / "0013.png", gal / "Bob" / "0008.png", threshold=1.0)
    assert not different.same and different.score == pytest.approx(same.score)
    with pytest.raises(UserError, match="no verification threshold"):
        rec.verify(probes / "Bob" / "0013.png", gal / "Bob" / "0008.png")

    assert g.remove("d") == 5 and "d" not in g.identities()
    assert all(r.identity != "d" for r in rec.identify(sorted((probes / "d").glob("*.png")), g))
    with pytest.raises(UserError, match="not in the gallery"):
        g.remove("d")


def test_calibration_threshold_is_used_and_reported(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--model", str(tiny[1]), "--out", str(g), "--template", "all"]) == 0
    rc, out, _ = run_cli(capsys, "gallery", "calibrate", g, "--far", "0.05", "--json")
    cal = json.loads(out)
    assert rc == 0 and cal["far"] == 0.05 and cal["identities"] == 6 and cal["samples"] == 30

    # recompute by hand: each sample's best score over the other identities' samples (template=all)
    gallery = lrface.Gallery.open(g)
    owners, x = gallery.core.sample_vectors()
    s = x @ x.T
    s[owners[:, None] == owners[None, :]] = -np.inf
    impostor = np.sort(s.max(axis=1).astype(np.float64))[::-1]
    m = int(np.floor(0.05 * len(impostor)))
    assert cal["identify_threshold"] > impostor[m] and cal["identify_threshold"] == pytest.approx(impostor[m], abs=1e-6)
    assert np.mean(impostor >= cal["identify_threshold"]) <= 0.05
    pairs = (x @ x.T).astype(np.float64)[np.triu(np.ones((30, 30), bool), 1) & (owners[:, None] != owners[None, :])]
    assert cal["verify_impostor_pairs"] == len(pairs) == 375
    assert np.mean(pairs >= cal["verify_threshold"]) <= 0.05 < np.mean(pairs >= cal["verify_threshold"] - 1e-6) + 0.05

    rc, out, _ = run_cli(capsys, "identify", probes, "--gallery", g, "--json")
    res = json.loads(out)
    assert rc == 0 and all(r["threshold"] == cal["identify_threshold"] for r in res)
    assert all("gallery calibration (FAR 0.05" in r["threshold_source"] for r in res)
    assert all(
        r["identity"] == ("unknown" if r["score"] < cal["identify_threshold"] else r["matches"][0]["identity"])
        for r in res
    )
    rc, out, _ = run_cli(capsys, "identify", probes, "--gallery", g, "--json", "--threshold", "-1")
    assert all(r["threshold"] == -1 and r["threshold_source"].startswith("given") for r in json.loads(out))
    rc, out, _ = run_cli(
        capsys, "verify", probes / "Bob" / "0013.png", gal / "Bob" / "0008.png", "--gallery", g, "--json"
    )
    v = json.loads(out)
    assert v["threshold"] == cal["verify_threshold"] and rc == (0 if v["same"] else 1)
    assert v["same"] == (v["score"] >= cal["verify_threshold"])
    rc, out, _ = run_cli(capsys, "gallery", "list", g, "--json")
    assert json.loads(out)["calibration"]["identify_threshold"] == cal["identify_threshold"]
    one = tmp_path / "one"
    write_identity_folder(one, *generated_faces(n_ids=1, per_id=3), ["solo"])
    assert main(["gallery", "build", str(one), "--model", str(tiny[1]), "--out", str(tmp_path / "g1")]) == 0
    rc, _, err = run_cli(capsys, "gallery", "calibrate", tmp_path / "g1")
    assert rc == 2 and "at least 2" in err


def test_score_equal_to_threshold_is_accepted_by_identify_and_evaluate(tiny, faces, tmp_path):
    from lrface.evaluation.metrics import dir_at_far
    from lrface.inference.threshold import accepts, threshold_at_far

    gal, probes = faces
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    g.add("Bob", sorted((gal / "Bob").glob("*.png")))
    g.add("e", sorted((gal / "e").glob("*.png")))
    e = g.recognizer().embed(probes / "Bob" / "0013.png")
    score = g.search(e, 1)[0].score
    assert g.search(e, 1, threshold=score)[0].identity == "Bob"  # equal: accepted
    assert g.search(e, 1, threshold=float(np.nextafter(np.float32(score), np.float32(2))))[0].identity == "unknown"
    assert accepts(0.5, 0.5) and not accepts(0.5, 0.5000001)
    # evaluate: a known probe whose score equals the chosen threshold counts as accepted, as in identify
    unknown = np.array([0.9, 0.8, 0.7, 0.6])
    thr = threshold_at_far(unknown, 0.25)  # accepts at most 1 of 4: just above 0.8
    assert thr > 0.8 and np.mean(accepts(unknown, thr)) == 0.25
    [row] = dir_at_far(np.array([True, True]), np.array([thr, 0.8]), unknown, [0.25])
    assert row["threshold"] == thr and row["dir"] == 0.5 and row["measured_far"] == 0.25


def test_verify_and_embed_cli(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    a, b, other = probes / "Bob" / "0013.png", gal / "Bob" / "0008.png", gal / "e" / "0032.png"
    rc, out, _ = run_cli(capsys, "verify", a, b, "--model", tiny[1], "--threshold", "-1", "--json")
    v = json.loads(out)
    assert rc == 0 and v["same"] is True and v["threshold"] == -1
    rc, out, _ = run_cli(capsys, "verify", a, b, "--model", tiny[1], "--threshold", "1.0")
    assert rc == 1 and out.startswith("different\t")
    s_same = lrface.Recognizer(tiny[1]).verify(a, b, threshold=0).score
    s_other = lrface.Recognizer(tiny[1]).verify(a, other, threshold=0).score
    assert s_same > s_other  # the same person scores higher than another one
    mid = (s_same + s_other) / 2
    assert run_cli(capsys, "verify", a, b, "--model", tiny[1], "--threshold", mid)[0] == 0
    assert run_cli(capsys, "verify", a, other, "--model", tiny[1], "--threshold", mid)[0] == 1
    for bad in (
        ["verify", a, tmp_path / "missing.png", "--model", tiny[1], "--threshold", "0.5"],
        ["verify", a, b, "--model", tiny[1]],
        ["verify", a, b, "--model", tiny[1], "--threshold", "nan"],
    ):
        rc, _, err = run_cli(capsys, *bad)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and ": error: " in err

    out_file = tmp_path / "v.npy"
    rc, out, err = run_cli(capsys, "embed", probes / "Bob", a, "--model", tiny[1], "--out", out_file)
    vectors = np.load(out_file)
    assert rc == 0 and out.split() == [str(p) for p in sorted((probes / "Bob").glob("*.png"))] + [str(a)]
    assert vectors.shape == (4, lrface.Recognizer(tiny[1]).dim)
    assert np.allclose(vectors, lrface.Recognizer(tiny[1]).embed([Path(p) for p in out.split()]), atol=1e-6)
    rc, out, _ = run_cli(capsys, "embed", a, "--model", tiny[1], "--json")
    assert rc == 0 and np.allclose(json.loads(out)[0]["embedding"], vectors[3], atol=1e-6)
    for bad in (
        ["embed", a, "--model", tiny[1], "--out", tmp_path / "v.txt"],
        ["embed", a, "--model", tiny[1], "--out", tmp_path],
        ["embed", tmp_path / "nope.png", "--model", tiny[1], "--json"],
    ):
        rc, _, err = run_cli(capsys, *bad)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err


def test_tiny_probes_are_refused(tiny, faces, tmp_path, capsys):
    gal, _probes = faces
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--model", str(tiny[1]), "--out", str(g)]) == 0
    rec = lrface.Recognizer(tiny[1])
    for w, h in ((1, 1), (5000, 1), (2, 40)):
        cv2.imwrite(str(tmp_path / f"t{w}x{h}.png"), np.full((h, w, 3), 128, np.uint8))
        rc, _, err = run_cli(capsys, "identify", tmp_path / f"t{w}x{h}.png", "--gallery", g)
        assert rc == 2 and "far below the model's" in err and len(err.strip().splitlines()) == 1
        with pytest.raises(BadImage, match="far below"):
            rec.embed(np.full((h, w, 3), 128, np.uint8))
    ok = cv2.resize(cv2.imread(str(next(gal.glob("Bob/*.png")))), (rec.embedder.spec.size // 2,) * 2)
    cv2.imwrite(str(tmp_path / "half.png"), ok)  # half the input size is still used
    assert run_cli(capsys, "identify", tmp_path / "half.png", "--gallery", g)[0] == 0


def test_model_defaults_to_packaged_model(tiny, faces, tmp_path, capsys, monkeypatch):

    from lrface import pretrained

    gal, probes = faces
    root = tmp_path / "pretrained"
    root.mkdir()
    monkeypatch.setattr(pretrained, "HERE", root)
    monkeypatch.setattr(pretrained.resolve_model, "__defaults__", (root,))
    rc, _, err = run_cli(capsys, "gallery", "build", gal, "--out", tmp_path / "none")
    assert rc == 2 and "no packaged model is installed" in err
    with pytest.raises(UserError, match="no packaged model"):
        lrface.Recognizer()
    package_model(root, tiny[1])
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--out", str(g)]) == 0
    assert lrface.Gallery.open(g).info["model_path"] == str((root / "tiny.onnx").resolve())
    assert lrface.Recognizer().fingerprint == lrface.Recognizer(tiny[1]).fingerprint
    (root / "tiny.onnx").rename(root / "tiny-gone.onnx")  # the gallery's model is gone: packaged default (also gone)
    rc, _, err = run_cli(capsys, "identify", probes / "Bob" / "0013.png", "--gallery", g)
    assert rc == 2 and len(err.strip().splitlines()) == 1


def test_import_lrface_api_imports_no_torch():
    code = (
        "import sys, lrface; lrface.Recognizer; from lrface import Gallery; import lrface.api; "
        "import lrface.serve.app, lrface.schema_check, lrface.model_integrity, lrface.checks, lrface.commands.models; "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_readers_never_fail_while_a_writer_publishes_generations(tiny, faces, tmp_path):
    import threading

    gal, _probes = faces
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    g.add("Bob", sorted((gal / "Bob").glob("*.png")))
    images, _ = generated_faces(n_ids=40, per_id=1, seed=7)
    done, errors, opened = threading.Event(), [], [0]

    def write():
        try:
            for i, im in enumerate(images):
                g.add(f"w{i}", [im])
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    last = 0
    while not done.is_set():
        try:
            n = len(lrface.Gallery.open(tmp_path / "g"))  # old generations' files vanish under readers
        except UserError as e:
            errors.append(str(e))
            continue
        assert n >= last  # a reader never sees an older generation than one it already saw
        last, opened[0] = n, opened[0] + 1
    writer.join()
    assert not errors, errors[:3]
    assert opened[0] > 5 and len(lrface.Gallery.open(tmp_path / "g")) == 41


def test_enormous_identity_name_is_refused(tiny, faces, tmp_path):
    from lrface import Gallery, Recognizer
    from lrface.errors import UserError

    g = Gallery.create(tmp_path / "g", Recognizer(tiny[1]))
    with pytest.raises(UserError, match="is 10000 characters long; use a name of at most 255"):
        g.add("x" * 10_000, [next(faces[1].rglob("*.png"))])
    assert len(g) == 0 and g.add("x" * 255, [next(faces[1].rglob("*.png"))]).added == 1


def test_wrong_argument_types_raise_user_error(tiny, faces, tmp_path):
    """Wrong types through the API are UserError naming the argument, never a TypeError from inside."""
    import numpy as np

    from lrface import Gallery, Recognizer
    from lrface.errors import UserError

    gal, probes = faces
    probe = next(probes.rglob("*.png"))
    rec = Recognizer(tiny[1])
    g = Gallery.create(tmp_path / "g", rec)
    g.add("Ann", sorted((gal / "Ann Lee").glob("*.png")))
    for call, needle in (
        (lambda: rec.embed(None), "got NoneType"),
        (lambda: rec.embed(7), "got int"),
        (lambda: rec.embed([7]), "got int"),
        (lambda: rec.verify(probe, probe, threshold="x"), "threshold 'x' is not a number"),
        (lambda: g.add(None, [probe]), "identity name None is not text"),
        (lambda: rec.identify([probe], g, top_k=1.5), "top_k=1.5"),
        (lambda: Recognizer(tiny[1], threads=-1), "threads=-1"),
        (lambda: g.calibrate(far="0.1"), "must be a number between 0 and 1"),
        (lambda: Gallery.open(123), "gallery path 123 is not a path"),
        (lambda: Gallery.create(probe / "g", rec), "is a file, so nothing can be written below it"),
    ):
        with pytest.raises(UserError, match=needle):
            call()
    grey = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # a grey H x W array is one image, not 32 rows
    assert rec.embed(grey).shape == (1, rec.dim)
    assert np.allclose(rec.embed(grey), rec.embed(np.repeat(grey[..., None], 3, axis=2)))
