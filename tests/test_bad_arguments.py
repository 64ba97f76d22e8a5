"""Arguments of the wrong type or shape: a TypeError with one clear line from the Python API (not a deep numpy
or AttributeError), file names with NUL or undecodable bytes handled like any other bad path, a client that
disconnects mid-upload logged in one line, and a training set that cannot be scored refused before work."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lrface.cli import main
from lrface.errors import UserError
from tests.conftest import make_identity_set


@pytest.fixture
def api(tiny, faces):
    from lrface import Gallery, Recognizer

    gal, probes = faces
    rec = Recognizer(tiny[1])
    g = Gallery.create(gal.parent / "g", rec)
    g.add("Ann", sorted((gal / "Ann Lee").glob("*.png")))
    return rec, g, next(probes.rglob("*.png"))


def test_wrong_types_are_type_errors_with_one_line(api, tiny):
    from lrface import Gallery, Recognizer

    rec, g, probe = api
    for call, needle in (
        (lambda: rec.embed({"a": probe}), "got a dict"),
        (lambda: rec.verify(probe, probe, threshold=[0.5]), "threshold [0.5] is not a number"),
        (lambda: rec.identify([probe], g, top_k="3"), "top_k='3'"),
        (lambda: rec.identify([probe], 5), "gallery path 5 is not a path"),
        (lambda: g.add("Bob", [probe], recognizer="rec"), "pass an lrface.Recognizer"),
        (lambda: g.add_many([("Bob", [probe])]), "pass a dict identity -> images"),
        (lambda: g.add(5, [probe]), "identity name 5 is not text"),
        (lambda: g.calibrate(seed="x"), "seed='x'"),
        (lambda: g.search([[0.1, 0.2]]), "pass a float numpy array"),
        (lambda: g.search("abc"), "pass a float numpy array"),
        (lambda: Recognizer(tiny[1], align="yes"), "align='yes'"),
        (lambda: Recognizer(tiny[1], threads="2"), "threads='2' is not a whole number"),
        (lambda: Gallery.create(probe.parent / "new-g", "rec"), "pass an lrface.Recognizer"),
    ):
        with pytest.raises(TypeError, match=None) as e:
            call()
        assert isinstance(e.value, UserError) and needle in str(e.value) and "\n" not in str(e.value), e.value


def test_wrong_shapes_and_values_are_one_line_user_errors(api):
    rec, g, _ = api
    with pytest.raises(UserError, match=r"embeddings are \(1, 3\); this gallery searches N x"):
        g.search(np.zeros((1, 3), np.float32))
    with pytest.raises(UserError, match="NaN"):
        g.search(np.full((1, rec.dim), np.nan, np.float32))


def test_nul_bytes_in_paths(api, tiny):
    from lrface import Gallery, Recognizer

    rec, g, probe = api
    for call, needle in (
        (lambda: rec.embed(f"{probe}\x00.png"), "cannot contain a NUL byte"),
        (lambda: Gallery.open("g\x00x"), "cannot contain a NUL byte"),
        (lambda: Recognizer("model\x00.onnx"), "cannot contain a NUL byte"),
        (lambda: rec.identify([probe], f"{g.path}\x00"), "cannot contain a NUL byte"),
    ):
        with pytest.raises(UserError, match=needle):
            call()


def test_undecodable_file_names_on_the_cli(tiny, tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    odd = os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.png")
    os.link(next(faces.rglob("*.png")), odd)
    assert main(["embed", odd, "--model", str(tiny[1]), "--json"]) == 0
    assert capsys.readouterr().out.startswith("[")
    missing = os.fsdecode(bytes(tmp_path) + b"/\xfd-missing.png")
    rc = main(["embed", missing, "--model", str(tiny[1]), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "\\udcfd" in err[0] and "Traceback" not in err[0], err
    bad_out = os.fsdecode(bytes(tmp_path) + b"/g\xff")
    rc = main(["gallery", "build", str(faces), "--model", str(tiny[1]), "--out", bad_out])
    assert rc == 0 and os.path.isfile(os.path.join(bad_out, "gallery.json"))


def test_client_disconnect_mid_upload_is_one_log_line(api, capsys):
    from asgi_helpers import asgi_call
    from service_helpers import png

    from lrface.serve.app import ServeConfig, create_app

    _, g, _ = api
    app = create_app(ServeConfig(gallery=str(g.path)))
    capsys.readouterr()
    for path in ("/identify", "/identities/Carol"):
        asgi_call(app, "POST", path, [("image", png(5))], cut_after=100)
        log = capsys.readouterr().err.strip().splitlines()
        assert len(log) == 1 and "disconnected" in log[0] and "Traceback" not in log[0], log
    assert "Carol" not in g.identities()


def test_set_whose_identities_have_one_image_each_is_refused_before_training(tmp_path, capsys):
    from lrface.data.packed import write_packed_set

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    packed = write_packed_set(tmp_path / "set", {"train": (images, np.arange(4))}, list("abcd"), items=[])
    argv = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(packed), "--out", str(tmp_path / "r"),
            "--set", "strategy=student-only", "student.arch=resnet_tiny", "train.epochs=1", "train.threads=1"]  # fmt: skip
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no test images" in err[0] and "2+ images" in err[0], err
    assert not (tmp_path / "r").exists()
