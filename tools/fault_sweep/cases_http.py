"""Sweep cases on the HTTP service: client mistakes get a 4xx JSON answer, never a 500 or a traceback; a gallery
damaged under the running service gets 503."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import threading
import time
import uuid

import numpy as np

from .fixtures import faces, free_port, gallery_copy, scratch, write_folder
from .runner import ENV, PY, Sweep


def _multipart(fields: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    body = b""
    for name, filename, data in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{b}\r\nContent-Disposition: {disp}\r\n".encode()
        body += (b"Content-Type: application/octet-stream\r\n" if filename else b"") + b"\r\n" + data + b"\r\n"
    return body + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def _chunked(n: int):
    """A request body of ``n`` bytes sent with Transfer-Encoding: chunked (no Content-Length)."""
    yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    block = b"\0" * 16384
    for _ in range(n // len(block) + 1):
        yield block


def http_cases(s: Sweep, F):
    if not s.wanted("http"):
        return
    g = gallery_copy(F, "served")
    port = free_port()
    srv = subprocess.Popen(
        [PY, "-m", "lrface", "serve", "--gallery", g, "--port", str(port), "--token", "tok", "--max-bytes", "200000"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    imgs, good = F["img"], F["img"]["good.png"].read_bytes()
    auth = {"Authorization": "Bearer tok"}
    try:
        mp = lambda *fields: _multipart(list(fields))

        def post(case, path, fields, headers=None, expect=(400, 499), raw=None, ctype=None):
            body, ct = mp(*fields) if raw is None else (raw, ctype)
            h = {"Content-Type": ct, **(headers or {})} if ct else dict(headers or {})
            s.http(case, port, "POST", path, body, h, expect)

        post("http identify ok", "/identify", [("image", "a.png", good)], expect=(200, 200))
        post("http identify missing field", "/identify", [("other", "a.png", good)])
        post("http identify field not file", "/identify", [("image", "", b"hello")])
        post("http identify empty body", "/identify", [], raw=b"", ctype="multipart/form-data; boundary=x")
        post("http identify no content-type", "/identify", [], raw=good, ctype=None)
        post("http identify json body", "/identify", [], raw=b'{"image": "x"}', ctype="application/json")
        post(
            "http identify broken multipart",
            "/identify",
            [],
            raw=b"--x\r\ngarbage",
            ctype="multipart/form-data; boundary=x",
        )
        post("http identify no boundary", "/identify", [], raw=b"abc", ctype="multipart/form-data")
        post("http identify zero-byte image", "/identify", [("image", "a.png", b"")])
        post("http identify text image", "/identify", [("image", "a.png", b"not an image")])
        post("http identify truncated", "/identify", [("image", "a.jpg", F["img"]["trunc.jpg"].read_bytes())])
        post("http identify EPS upload", "/identify", [("image", "a.jpg", imgs["eps-as.jpg"].read_bytes())])
        post("http identify 1x1", "/identify", [("image", "a.png", F["img"]["1x1.png"].read_bytes())])
        post("http identify bomb", "/identify", [("image", "a.png", F["img"]["bomb.png"].read_bytes())])
        post("http identify huge upload", "/identify", [("image", "a.png", b"\0" * 400_000)])
        post("http identify two images", "/identify", [("image", "a.png", good), ("image", "b.png", good)])
        for q in (
            "top_k=0",
            "top_k=-1",
            "top_k=abc",
            "top_k=1000000000",
            "threshold=nan",
            "threshold=abc",
            "threshold=2",
            "threshold=-1.5",
        ):
            exp = (200, 200) if q == "top_k=1000000000" else (400, 499)  # thresholds are cosine scores in [-1, 1]
            post(f"http identify ?{q}", f"/identify?{q}", [("image", "a.png", good)], expect=exp)
        post("http identify top_k form field", "/identify", [("image", "a.png", good), ("top_k", "", b"zero")])
        post("http verify missing b", "/verify", [("a", "a.png", good)])
        post("http verify ?threshold=1.01", "/verify?threshold=1.01", [("a", "a.png", good), ("b", "b.png", good)])
        post("http identify threshold form 5", "/identify", [("image", "a.png", good), ("threshold", "", b"5")])
        if s.wanted("http client disconnects mid-upload"):  # the server log (last case) must stay free of tracebacks
            for path in ("/identify", "/identities/Eve"):
                body, ct = mp(("image", "a.png", good))
                so = socket.create_connection(("127.0.0.1", port), timeout=10)
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {len(body)}\r\n"
                so.sendall(f"{head}Authorization: Bearer tok\r\n\r\n".encode() + body[: len(body) // 3])
                time.sleep(0.3)
                so.close()
            time.sleep(0.5)
            s.http("http client disconnects mid-upload", port, "GET", "/health", expect=(200, 200))
        post("http verify threshold inf", "/verify?threshold=inf", [("a", "a.png", good), ("b", "b.png", good)])
        post("http enrol no token", "/identities/Eve", [("image", "a.png", good)])
        post("http enrol bad token", "/identities/Eve", [("image", "a.png", good)], {"Authorization": "Bearer nope"})
        post("http enrol non-ascii token", "/identities/Eve", [("image", "a.png", good)], {"Authorization": "Bearer é"})
        post("http enrol 17 images", "/identities/Eve", [("image", f"{i}.png", good) for i in range(17)], auth)
        post("http enrol bad image", "/identities/Eve", [("image", "a.png", b"junk")], auth)
        post("http enrol name with space", "/identities/Eve%20Ng", [("image", "a.png", good)], auth, expect=(200, 200))
        post("http enrol name %0A", "/identities/a%0Ab", [("image", "a.png", good)], auth, expect=(200, 499))
        post("http enrol name %2F", "/identities/a%2Fb", [("image", "a.png", good)], auth, expect=(200, 499))
        post("http enrol name long", "/identities/" + "x" * 3000, [("image", "a.png", good)], auth, expect=(400, 400))
        post("http enrol name 10000 chars", "/identities/" + "x" * 10_000, [("image", "a.png", good)], auth)
        post("http enrol name '..'", "/identities/..%2E", [("image", "a.png", good)], auth, expect=(400, 404))
        post("http enrol name '.hidden'", "/identities/.hidden", [("image", "a.png", good)], auth)
        post("http identify ?top_k=1e3", "/identify?top_k=1e3", [("image", "a.png", good)])
        post(
            "http identify 9 form fields",
            "/identify",
            [("image", "a.png", good)] + [(f"f{i}", "", b"1") for i in range(9)],
        )
        post(
            "http verify a bomb",
            "/verify",
            [("a", "a.png", imgs["bomb.png"].read_bytes()), ("b", "b.png", good)],
            expect=(413, 413),
        )
        post(
            "http enrol basic auth", "/identities/Eve", [("image", "a.png", good)], {"Authorization": "Basic dG9rOg=="}
        )
        post("http identify ?top_k=10^23", "/identify?top_k=" + "9" * 23, [("image", "a.png", good)], expect=(200, 499))
        post("http identify ?threshold=-1e309", "/identify?threshold=-1e309", [("image", "a.png", good)])
        post("http identify image as a text field", "/identify", [("image", "", good)])
        post("http enrol empty name", "/identities/", [("image", "a.png", good)], auth, expect=(404, 405))
        post("http enrol name %00", "/identities/a%00b", [("image", "a.png", good)], auth)
        post("http enrol name %20 only", "/identities/%20%20", [("image", "a.png", good)], auth)
        post("http enrol name bad utf-8", "/identities/%ff%fe", [("image", "a.png", good)], auth)
        s.http("http chunked over max-bytes", port, "POST", "/identify", _chunked(300_000),
               {"Content-Type": "multipart/form-data; boundary=x"}, expect=(413, 413))  # fmt: skip
        s.http("http DELETE with a body", port, "DELETE", "/identities/Nobody", b"xyz", auth, expect=(404, 404))
        s.http("http delete unknown", port, "DELETE", "/identities/Nobody", headers=auth)
        s.http("http delete no token", port, "DELETE", "/identities/Bob")
        s.http("http GET /identify", port, "GET", "/identify", expect=(405, 405))
        s.http("http unknown path", port, "GET", "/nope", expect=(404, 404))
        s.http("http PUT /identities/x", port, "PUT", "/identities/x", expect=(405, 405))
        s.http("http health", port, "GET", "/health", expect=(200, 200))
        s.http(
            "http Content-Length lie",
            port,
            "POST",
            "/identify",
            b"x" * 10,
            {"Content-Length": "999999999", "Content-Type": "multipart/form-data; boundary=x"},
            expect=(413, 413),
        )
        if s.wanted("http concurrent"):
            import cv2

            new = cv2.imencode(".png", np.ascontiguousarray(faces(1, 1, seed=9)[0][1]))[1].tobytes()
            codes, body_ct = [], _multipart([("image", "a.png", new)])

            def enrol():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("POST", "/identities/Same", body_ct[0], {"Content-Type": body_ct[1], **auth})
                codes.append(c.getresponse().status)
                c.close()

            threads = [threading.Thread(target=enrol) for _ in range(8)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/identities")
            rows = {r["identity"]: r["samples"] for r in json.loads(c.getresponse().read())["identities"]}
            why = (
                ""
                if all(code == 200 for code in codes) and rows.get("Same") == 1
                else f"codes {codes}, samples {rows.get('Same')}"
            )
            s.record(
                "http concurrent enrol same name",
                "8 x POST /identities/Same",
                ",".join(map(str, sorted(set(codes)))),
                f"Same: {rows.get('Same')} sample(s)",
                why,
            )
        # the gallery damaged under the running service: 503 (the server's problem), JSON, never a traceback.
        # First a generation the service did not write (it keeps an intact copy of its own), by the CLI:
        fresh = scratch(F, "fresh")
        write_folder(fresh, ["Frida"], 1, 1, seed=11)
        subprocess.run([PY, "-m", "lrface", "gallery", "add", g, fresh], env=ENV, capture_output=True, check=True)
        meta = next(g.glob("meta-*.sqlite"))
        meta.write_bytes(meta.read_bytes()[:1000])
        post("http enrol, metadata truncated", "/identities/Eve", [("image", "a.png", good)], auth, expect=(503, 503))
        post("http identify ?top_k=0, damaged", "/identify?top_k=0", [("image", "a.png", good)])  # still the client's
        (g / "gallery.json").unlink()
        s.http("http gallery pointer deleted", port, "GET", "/health", expect=(503, 503))
        post("http identify, pointer deleted", "/identify", [("image", "a.png", good)], expect=(503, 503))
    finally:
        srv.send_signal(signal.SIGINT)
        try:
            _, err = srv.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
    if s.wanted("http server log"):
        s.record(
            "http server log",
            "lrface serve stderr",
            srv.returncode,
            (err.strip().splitlines() or [""])[-1],
            "traceback in the server log"
            if "Traceback" in err
            else ("internal error logged" if "internal error" in err else ""),
        )
