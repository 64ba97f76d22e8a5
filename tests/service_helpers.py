"""Shared pieces for the `lrface serve` tests: a service on a free loopback port and HTTP requests to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from serving_helpers import REPO, gallery_and_probes, generated_faces, tiny_export

TOKEN = "s3cret"


@contextlib.contextmanager
def running_service(gallery: Path, *args: str) -> Iterator[int]:
    """`lrface serve --gallery GALLERY ARGS` with LRFACE_TOKEN on a free port (yielded) until the block ends;
    then it is stopped and must have logged no traceback or internal error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(
        [sys.executable, "-m", "lrface", "serve", "--gallery", str(gallery), "--port", str(port), *args],
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
    try:
        yield port
    finally:  # a failing assertion in the block must not leave the server running
        p.terminate()
        _, err = p.communicate(timeout=30)
    assert "Traceback" not in err and "internal error" not in err, err


def served_gallery(base: Path) -> Iterator[tuple[int, Path, Path, Path]]:
    """(port, gallery dir, probes dir, model): a gallery of 6 generated identities served with a token."""
    _, model = tiny_export(base)
    gal, probes = gallery_and_probes(base)
    g = base / "g"
    run_lrface("gallery", "build", gal, "--model", model, "--out", g)
    with running_service(g, "--max-bytes", "100000", "--max-pixels", "250000") as port:
        yield port, g, probes, model


def lrface_process(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m lrface ARGS`` in a subprocess of this checkout, output captured, any exit code."""
    return subprocess.run(
        [sys.executable, "-m", "lrface", *map(str, args)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=timeout,
    )


def run_lrface(*args) -> subprocess.CompletedProcess:
    r = lrface_process(*args)
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


def pngs(seed: int, n: int) -> list[bytes]:
    """``n`` generated faces of one person, as PNG bytes."""
    images, _ = generated_faces(n_ids=1, per_id=n, seed=seed)
    return [cv2.imencode(".png", im)[1].tobytes() for im in images]


def png(seed: int) -> bytes:
    """A generated face as PNG bytes."""
    return pngs(seed, 1)[0]
