"""`lrface serve` whose gallery is damaged on disk while it runs: 503 (the server's problem) with the fix,
while client mistakes stay 400, and a rebuilt gallery is served again without a restart."""

from __future__ import annotations

import shutil

import pytest
from service_helpers import TOKEN, png, request, run_lrface, running_service
from serving_helpers import gallery_and_probes, tiny_export


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(identity folder, probes, model, a built gallery to copy)."""
    base = tmp_path_factory.mktemp("damage")
    _, model = tiny_export(base)
    gal, probes = gallery_and_probes(base)
    run_lrface("gallery", "build", gal, "--model", model, "--out", base / "g")
    return gal, probes, model, base / "g"


def _damage(g, part: str) -> None:
    if part == "pointer-deleted":
        (g / "gallery.json").unlink()
    elif part == "sqlite-truncated":
        meta = next(g.glob("meta-*.sqlite"))
        meta.write_bytes(meta.read_bytes()[:1000])
    else:  # the FAISS index overwritten with garbage of the same size
        index = next(g.glob("index-*.faiss"))
        index.write_bytes(b"\0" * index.stat().st_size)


def _assert_503(answer, needle: str) -> None:
    status, r = answer
    assert status == 503 and r["status"] == 503, answer
    assert r["error"].startswith("the served gallery cannot be read: ") and needle in r["error"], r
    assert "rebuild with `lrface gallery build FOLDER --out" in r["error"] and "\n" not in r["error"], r


@pytest.mark.parametrize(
    "part,needle",
    [
        ("pointer-deleted", "gallery.json is missing"),
        ("sqlite-truncated", "gallery meta file missing or truncated"),
        ("index-garbage", "unreadable FAISS index"),
    ],
)
def test_gallery_damaged_while_serving_is_503(built, tmp_path, part, needle):
    gal, probes, model, original = built
    g = tmp_path / "g"
    shutil.copytree(original, g)
    probe = (probes / "Bob" / "0013.png").read_bytes()
    with running_service(g) as port:
        assert request(port, "POST", "/identify", [("image", probe)])[1]["identity"] == "Bob"
        _damage(g, part)
        # writes read the generation from disk: the damage is the server's problem, not the request's
        _assert_503(request(port, "POST", "/identities/Carol", [("image", png(101))], token=TOKEN), needle)
        _assert_503(request(port, "DELETE", "/identities/Bob", token=TOKEN), needle)
        if part == "pointer-deleted":  # every request looks for a newer generation first
            _assert_503(request(port, "GET", "/health"), needle)
            _assert_503(request(port, "POST", "/identify", [("image", probe)]), needle)
            _assert_503(request(port, "GET", "/identities"), needle)
        # client mistakes are still the client's: 4xx before the gallery is touched
        status, r = request(port, "POST", "/identify?top_k=0", [("image", probe)])
        assert status == 400 and "top_k" in r["error"], r
        status, r = request(port, "POST", "/identify", [("image", b"not an image")])
        assert status == 400 and "not a readable image" in r["error"], r
        assert request(port, "POST", "/identities/Carol", [("image", png(101))])[0] == 401
        run_lrface("gallery", "build", gal, "--model", model, "--out", g, "--force")  # the fix the message names
        status, h = request(port, "GET", "/health")
        assert status == 200 and h["identities"] == 6, h
        status, r = request(port, "POST", "/identities/Carol", [("image", png(101))], token=TOKEN)
        assert status == 200 and r["added"] == 1, r
        assert request(port, "POST", "/identify", [("image", probe)])[1]["identity"] == "Bob"
