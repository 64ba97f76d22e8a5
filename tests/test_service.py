"""`lrface serve` as a real process on a free loopback port: every endpoint, the token, upload caps,
bad images, and concurrent enrol + identify (also with a CLI `gallery add`) with nothing lost."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import gallery_and_probes, generated_faces, tiny_export

REPO = Path(__file__).resolve().parents[1]
TOKEN = "s3cret"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, gallery dir, probes dir, model): a gallery of 6 generated identities served with a token."""
    base = tmp_path_factory.mktemp("served")
    _, model = tiny_export(base)
    gal, probes = gallery_and_probes(base)
    g = base / "g"
    run_lrface("gallery", "build", gal, "--model", model, "--out", g)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lrface",
            "serve",
            "--gallery",
            str(g),
            "--port",
            str(port),
            "--max-bytes",
            "100000",
            "--max-pixels",
            "250000",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "LRFACE_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(300):
        try:
            if request(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        p.kill()
        pytest.fail(f"server did not start: {p.communicate()[1]}")
    yield port, g, probes, model
    p.terminate()
    _, err = p.communicate(timeout=30)
    assert "Traceback" not in err and "internal error" not in err, err


def run_lrface(*args) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "lrface", *map(str, args)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r


def multipart(fields: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(  # bytes: a file upload; str: a plain form field
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{d}\r\n'.encode()
        if isinstance(d, str)
        else f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"; filename="{n}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + d
        + b"\r\n"
        for n, d in fields
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(port, method, path, fields=None, token=None, raw=None, headers=None) -> tuple[int, dict]:
    hdrs = dict(headers or {})
    body = raw
    if fields is not None:
        body, hdrs["Content-Type"] = multipart(fields)
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    assert r.getheader("content-type", "").startswith("application/json"), data[:200]
    return r.status, json.loads(data)


def png(seed: int) -> bytes:
    images, _ = generated_faces(n_ids=1, per_id=1, seed=seed)
    return cv2.imencode(".png", images[0])[1].tobytes()


def test_health_identify_verify_list(served):
    port, _g, probes, _ = served
    status, h = request(port, "GET", "/health")
    assert status == 200 and h["status"] == "ok" and h["identities"] >= 6
    assert h["thresholds"]["identify"]["value"] is None
    files = sorted(probes.glob("*/*.png"))
    right = 0
    for f in files:
        status, r = request(port, "POST", "/identify?top_k=2", [("image", f.read_bytes())])
        assert status == 200 and len(r["matches"]) == 2 and r["threshold"] is None
        right += r["identity"] == f.parent.name
    assert right / len(files) >= 0.9  # chance is 1/6
    status, r = request(port, "POST", "/identify", [("image", files[0].read_bytes())] + [("threshold", "1.01")])
    assert status == 200 and r["identity"] == "unknown" and r["threshold"] == 1.01
    a, b = probes / "Bob" / "0013.png", probes / "Bob" / "0014.png"
    status, v = request(port, "POST", "/verify?threshold=-1", [("a", a.read_bytes()), ("b", b.read_bytes())])
    assert status == 200 and v["same"] is True and -1 <= v["score"] <= 1
    status, v = request(port, "POST", "/verify", [("a", a.read_bytes()), ("b", b.read_bytes())])
    assert status == 400 and "threshold" in v["error"]  # gallery not calibrated, none given
    status, ids = request(port, "GET", "/identities")
    assert status == 200 and {r["identity"]: r["samples"] for r in ids["identities"]}["Zoë"] == 5


def test_token_enrol_remove(served):
    port, _g, _probes, _ = served
    fields = [("image", png(101)), ("image", png(102))]
    assert request(port, "POST", "/identities/Carol", fields)[0] == 401
    assert request(port, "POST", "/identities/Carol", fields, token="wrong")[0] == 401
    assert request(port, "DELETE", "/identities/Bob")[0] == 401
    status, r = request(port, "POST", "/identities/Carol", fields, token=TOKEN)
    assert status == 200 and (r["identity"], r["added"], r["duplicates"]) == ("Carol", 2, 0)
    status, r = request(port, "POST", "/identities/Carol", fields[:1], token=TOKEN)
    assert status == 200 and (r["added"], r["duplicates"]) == (0, 1)
    status, r = request(port, "POST", "/identify", [("image", png(101))])
    assert r["identity"] == "Carol"
    status, r = request(port, "DELETE", "/identities/Carol", token=TOKEN)
    assert status == 200 and r["removed_samples"] == 2
    assert request(port, "DELETE", "/identities/Carol", token=TOKEN)[0] == 404
    assert request(port, "POST", "/identities/..", fields, token=TOKEN)[0] in (400, 404)


def _png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


@pytest.mark.parametrize(
    "case,code,needle",
    [
        ("oversized", 413, "request body over"),
        ("oversized-chunked", 413, "request body over"),
        ("bomb", 413, "megapixels"),
        ("corrupt", 400, "not a readable image"),
        ("empty", 400, "zero-byte"),
        ("tiny", 400, "far below"),
        ("not-multipart", 415, "multipart"),
        ("no-image", 400, "missing image"),
        ("bad-top-k", 400, "top_k"),
        ("nan-threshold", 400, "finite"),
        ("unknown-route", 404, "Not Found"),
        ("wrong-method", 405, "Method Not Allowed"),
        ("bad-name", 400, "control"),
        ("trailing-slash", 404, "Not Found"),
        ("name-not-utf8", 400, "U+FFFD"),
    ],
)
def test_bad_requests_get_4xx_json(served, case, code, needle):
    port = served[0]
    if case == "oversized":
        status, r = request(port, "POST", "/identify", [("image", os.urandom(150_000))])
    elif case == "oversized-chunked":
        body, ctype = multipart([("image", os.urandom(150_000))])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request(
            "POST",
            "/identify",
            body=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
            headers={"Content-Type": ctype},
            encode_chunked=True,
        )
        resp = c.getresponse()
        status, r = resp.status, json.loads(resp.read())
    elif case == "bomb":
        status, r = request(port, "POST", "/identify", [("image", _png_header_only(1000, 1000))])
    elif case == "corrupt":
        status, r = request(port, "POST", "/identify", [("image", b"\x89PNG\r\n\x1a\n" + os.urandom(300))])
    elif case == "empty":
        status, r = request(port, "POST", "/identify", [("image", b"")])
    elif case == "tiny":
        status, r = request(
            port, "POST", "/identify", [("image", cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes())]
        )
    elif case == "not-multipart":
        status, r = request(port, "POST", "/identify", raw=png(1), headers={"Content-Type": "image/png"})
    elif case == "no-image":
        status, r = request(port, "POST", "/identify", [("picture", png(1))])
    elif case == "bad-top-k":
        status, r = request(port, "POST", "/identify?top_k=0", [("image", png(1))])
    elif case == "nan-threshold":
        status, r = request(port, "POST", "/identify?threshold=nan", [("image", png(1))])
    elif case == "unknown-route":
        status, r = request(port, "GET", "/nope")
    elif case == "wrong-method":
        status, r = request(port, "GET", "/identify")
    elif case == "trailing-slash":  # was a bodiless 307 redirect to GET /identities
        status, r = request(port, "POST", "/identities/", [("image", png(3))], token=TOKEN)
    elif case == "name-not-utf8":  # was enrolled as the name '\ufffd\ufffd'
        status, r = request(port, "POST", "/identities/%ff%fe", [("image", png(3))], token=TOKEN)
    else:
        status, r = request(port, "POST", "/identities/a%07b", [("image", png(3))], token=TOKEN)
    assert status == code and r["status"] == code and needle in r["error"], r


def test_concurrent_enrol_identify_and_cli_add_lose_nothing(served, tmp_path):
    port, g, probes, _model = served
    probe = (probes / "Bob" / "0013.png").read_bytes()
    stop, failures, answered = threading.Event(), [], [0]

    def identify_loop():
        while not stop.is_set():
            status, r = request(port, "POST", "/identify", [("image", probe)])
            if status != 200 or r["identity"] != "Bob":
                failures.append((status, r))
            answered[0] += 1

    readers = [threading.Thread(target=identify_loop) for _ in range(4)]
    for t in readers:
        t.start()
    enrolled = {}

    def enrol(k0):
        for k in range(k0, k0 + 6):
            status, r = request(
                port, "POST", f"/identities/new{k}", [("image", png(1000 + k)), ("image", png(2000 + k))], token=TOKEN
            )
            if status == 200 and r["added"] == 2:
                enrolled[f"new{k}"] = 2
            else:
                failures.append((status, r))

    writers = [threading.Thread(target=enrol, args=(k0,)) for k0 in (0, 100)]
    for t in writers:
        t.start()
    cli_dir = tmp_path / "cli"  # meanwhile a CLI `gallery add` writes to the same directory
    cli_dir.mkdir()
    for k in range(3):
        (cli_dir / f"{k}.png").write_bytes(png(3000 + k))
    run_lrface("gallery", "add", g, cli_dir, "--identity", "from cli")
    for t in writers:
        t.join()
    time.sleep(0.2)
    stop.set()
    for t in readers:
        t.join()
    assert not failures, failures[:3]
    assert answered[0] > 10 and len(enrolled) == 12
    _, ids = request(port, "GET", "/identities")
    served_ids = {r["identity"]: r["samples"] for r in ids["identities"]}
    assert all(served_ids.get(n) == c for n, c in enrolled.items()), served_ids
    assert served_ids.get("from cli") == 3  # the service picked up the CLI's generation
    on_disk = json.loads(run_lrface("gallery", "list", g, "--json").stdout)
    disk_ids = {r["identity"]: r["samples"] for r in on_disk["identities"]}
    assert disk_ids == served_ids
    for k in list(enrolled):
        assert request(port, "DELETE", f"/identities/{k}", token=TOKEN)[0] == 200
    assert request(port, "DELETE", "/identities/from%20cli", token=TOKEN)[0] == 200


def test_serve_bad_start_is_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "lrface", "serve", "--gallery", str(tmp_path / "missing")],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "gallery not found" in r.stderr


def test_calibration_by_the_cli_is_picked_up_and_reported(served):  # last: it changes the served gallery
    port, g, probes, _ = served
    cal = json.loads(run_lrface("gallery", "calibrate", g, "--far", "0.05", "--json").stdout)
    status, h = request(port, "GET", "/health")
    assert h["thresholds"]["identify"]["value"] == cal["identify_threshold"]
    assert h["thresholds"]["verify"]["source"].startswith("gallery calibration (FAR 0.05")
    status, r = request(port, "POST", "/identify", [("image", (probes / "Bob" / "0013.png").read_bytes())])
    assert status == 200 and r["threshold"] == cal["identify_threshold"]
    assert r["identity"] == ("Bob" if r["score"] >= cal["identify_threshold"] else "unknown")
    a, b = (probes / "Bob" / "0013.png").read_bytes(), (probes / "Bob" / "0014.png").read_bytes()
    status, v = request(port, "POST", "/verify", [("a", a), ("b", b)])
    assert status == 200 and v["threshold"] == cal["verify_threshold"]
    assert v["same"] == (v["score"] >= cal["verify_threshold"])
