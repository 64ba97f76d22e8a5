"""`lrface serve` bad input: upload caps, bad images and parameters, bad routes and names (4xx JSON),
and a bad start (one line)."""

from __future__ import annotations

import http.client
import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from service_helpers import TOKEN, lrface_process, multipart, png, request


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
        ("name-too-long", 400, "is 10000 characters long; use a name of at most 255"),
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
    elif case == "name-too-long":
        status, r = request(port, "POST", "/identities/" + "x" * 10_000, [("image", png(3))], token=TOKEN)
    else:
        status, r = request(port, "POST", "/identities/a%07b", [("image", png(3))], token=TOKEN)
    assert status == code and r["status"] == code and needle in r["error"], r


def test_serve_bad_start_is_one_line(tmp_path):
    r = lrface_process("serve", "--gallery", tmp_path / "missing", timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "gallery not found" in r.stderr
