"""Every number has a range, checked before any work in one shared place (lrface/checks.py, the CLI entry,
the config loader, prepare's options): thresholds are cosine scores in [-1, 1] in the CLI, the API and the
service; thread/worker/job counts run up to 4 x the cores; prepare's blur and noise stop where more means
nothing. The message states the bound."""

from __future__ import annotations

import numpy as np
import pytest

from lrface.checks import max_threads, thread_count, threshold
from lrface.cli import main
from lrface.errors import UserError, WrongType
from tests.conftest import make_identity_set


def one_line(capsys, rc, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], err
    for n in needles:
        assert n in err[0], err[0]


def test_threshold_and_thread_checks():
    assert threshold(-1) == -1.0 and threshold(1) == 1.0 and threshold(np.float32(0.5)) == 0.5
    for bad in (1.0001, -2, 1e308):
        with pytest.raises(UserError, match=r"outside \[-1, 1\]"):
            threshold(bad)
    with pytest.raises(UserError, match="not a finite number"):
        threshold(float("nan"))
    for bad in (True, "0.5", [0.5], None):
        with pytest.raises(TypeError):
            threshold(bad)
    assert thread_count(0) == 0 and thread_count(max_threads()) == max_threads()
    with pytest.raises(UserError, match=f"and {max_threads()} \\(4 x the"):
        thread_count(max_threads() + 1)
    with pytest.raises(UserError, match="between 1"):
        thread_count(0, "--threads", zero=None)
    with pytest.raises(WrongType):
        thread_count(2.0)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["identify", "x.png", "--gallery", "g", "--threshold", "1.5"], "--threshold 1.5 is outside [-1, 1]"),
        (["identify", "x.png", "--gallery", "g", "--threshold=-2"], "--threshold -2 is outside [-1, 1]"),
        (["verify", "a.png", "b.png", "--threshold", "1e308"], "outside [-1, 1]"),
        (["serve", "--gallery", "g", "--threads", "100000"], "--threads=100000: must be between 1 and"),
        (["serve", "--gallery", "g", "--workers", "100000"], "--workers=100000: must be between 1 and"),
        (["prepare", "folder", "faces", "--out", "o", "--workers", "100000"], "--workers=100000"),
        (["benchmark", "--data", "faces", "--out", "o", "--jobs", "100000"], "--jobs=100000"),
        (["prepare", "folder", "faces", "--out", "o", "--blur", "1e6"], "--blur 1e+06: at most 28"),
        (["prepare", "folder", "faces", "--out", "o", "--noise", "1000"], "--noise 1000: at most 255"),
    ],
)
def test_cli_numbers_out_of_range_are_refused_before_work(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    one_line(capsys, main(argv), needle)
    assert not (tmp_path / "o").exists()


def test_train_threads_bound_in_the_config(tmp_path, capsys):
    from lrface.config import load_config

    with pytest.raises(UserError, match=r"train.threads=100000: must be between 0 \(0: leave torch's default\)"):
        load_config("configs/face/orl-smoke.yaml", ["train.threads=100000"])


def test_api_thresholds_and_threads(tiny, faces):
    from lrface import Gallery, Recognizer

    gal, probes = faces
    probe = next(probes.rglob("*.png"))
    rec = Recognizer(tiny[1])
    with pytest.raises(UserError, match=r"outside \[-1, 1\]"):
        rec.verify(probe, probe, threshold=1.01)
    with pytest.raises(TypeError, match="threshold True is not a number"):
        rec.verify(probe, probe, threshold=True)
    g = Gallery.create(gal.parent / "g", rec)
    g.add("Ann", sorted((gal / "Ann Lee").glob("*.png")))
    with pytest.raises(UserError, match=r"outside \[-1, 1\]"):
        rec.identify([probe], g, threshold=-1.5)
    with pytest.raises(UserError, match="threads=100000: must be between 0"):
        Recognizer(tiny[1], threads=100_000)


def test_service_threshold_out_of_range_is_400(tiny, faces):
    from asgi_helpers import asgi_call
    from service_helpers import png

    from lrface import Gallery, Recognizer
    from lrface.serve.app import ServeConfig, create_app

    gal, _ = faces
    g = Gallery.create(gal.parent / "g", Recognizer(tiny[1]))
    g.add("Ann", sorted((gal / "Ann Lee").glob("*.png")))
    app = create_app(ServeConfig(gallery=str(g.path)))
    for value in ("1.5", "-3", "1e308"):
        status, answer = asgi_call(app, "POST", "/identify", [("image", png(3)), ("threshold", value)])
        assert status == 400 and "[-1, 1]" in answer["error"], answer
    status, answer = asgi_call(app, "POST", "/verify", [("a", png(3)), ("b", png(4))], query="threshold=2")
    assert status == 400 and "[-1, 1]" in answer["error"], answer
    status, answer = asgi_call(app, "POST", "/identify", [("image", png(3)), ("threshold", "1")])
    assert status == 200 and answer["identity"] == "unknown"  # 1 is in range: no score reaches it
