"""`lrface serve` while its gallery is rebuilt on disk with another model, or republished with tampered
metadata: 503 with one line (never confident wrong names, never 500), `/health` says whether the gallery
matches the served model, and the rebuilt right gallery is served again without a restart."""

from __future__ import annotations

import numpy as np
import pytest
from service_helpers import TOKEN, png, request, run_lrface, running_service
from serving_helpers import gallery_and_probes, tiny_export

from lrface import pretrained
from lrface.model_integrity import file_sha256
from tools.fault_sweep.tamper import republish

SERVED, OTHER = "sr18-celeba-ekd60", "sr18-celeba-ekd"  # two packaged models with 112-d embeddings


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    names = [m.name for m in pretrained.list_models()]
    if not {SERVED, OTHER} <= set(names):
        pytest.skip("the packaged models are not installed")
    base = tmp_path_factory.mktemp("model-match")
    gal, probes = gallery_and_probes(base)
    return gal, probes, tiny_export(base)[1]


def _assert_503(answer, *needles):
    status, r = answer
    assert status == 503 and r["status"] == 503 and "\n" not in r["error"], answer
    assert all(n in r["error"] for n in needles), r


def test_a_gallery_rebuilt_with_another_model_is_refused_while_serving(setup, tmp_path):
    gal, probes, tiny = setup
    g = tmp_path / "g"
    run_lrface("gallery", "build", gal, "--model", SERVED, "--out", g)
    probe = (probes / "Bob" / "0013.png").read_bytes()
    with running_service(g) as port:
        status, h = request(port, "GET", "/health")
        assert status == 200 and h["gallery_matches_model"] and h["status"] == "ok", h
        assert (
            h["model_sha256"]
            == h["gallery_model_sha256"]
            == {m.name: m for m in pretrained.list_models()}[SERVED].card["sha256"]
        ), h
        assert request(port, "POST", "/identify", [("image", probe)])[0] == 200
        for other, needle in ((OTHER, "was built with model"), (tiny, "-d embeddings but")):
            run_lrface("gallery", "build", gal, "--model", other, "--out", g, "--force")
            _assert_503(request(port, "POST", "/identify", [("image", probe)]), needle, "rebuild the gallery")
            _assert_503(request(port, "POST", "/identities/Carol", [("image", png(101))], token=TOKEN), needle)
            _assert_503(request(port, "GET", "/identities"), needle)
            status, h = request(port, "GET", "/health")
            assert status == 503 and not h["gallery_matches_model"] and needle in h["error"], h
            assert h["status"] == 503 and h["gallery_model_sha256"] == file_sha256(pretrained.resolve_model(str(other)))
        run_lrface("gallery", "build", gal, "--model", SERVED, "--out", g, "--force")  # the fix
        status, h = request(port, "GET", "/health")
        assert status == 200 and h["gallery_matches_model"], h
        assert request(port, "POST", "/identify", [("image", probe)])[0] == 200


@pytest.mark.parametrize(
    "info,vectors,needle",
    [
        (
            {
                "calibration": '{"far": 0.01, "identify_threshold": NaN, "verify_threshold": 0.5, "identities": 6, '
                '"date": "x"}'
            },
            None,
            "calibration.identify_threshold: nan is not finite",
        ),
        (
            {
                "calibration": '{"far": 0.01, "identify_threshold": 1.5, "verify_threshold": 0.5, "identities": 6, '
                '"date": "x"}'
            },
            None,
            "calibration.identify_threshold: 1.5 is not in [-1, 1]",
        ),
        ({"embedding_dim": '"112"'}, None, "embedding_dim: '112' is not a whole number"),
        ({"template": "7"}, None, "template: 7 is not a string"),
        ({}, lambda v: np.where(np.arange(v.size).reshape(v.shape) == 5, np.nan, v), "NaN or infinity"),
    ],
)
def test_tampered_metadata_while_serving_is_503(setup, tmp_path, info, vectors, needle):
    gal, probes, _ = setup
    g = tmp_path / "g"
    run_lrface("gallery", "build", gal, "--model", SERVED, "--out", g)
    probe = (probes / "Bob" / "0013.png").read_bytes()
    with running_service(g) as port:
        assert request(port, "POST", "/identify", [("image", probe)])[0] == 200
        republish(g, info, vectors)
        _assert_503(request(port, "POST", "/identify", [("image", probe)]), needle, "rebuild with `lrface gallery")
        _assert_503(request(port, "GET", "/health"), needle)
