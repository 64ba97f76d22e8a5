"""Load test of `lrface serve` on loopback: identify requests/s and latency at 1, 8 and 32 concurrent
clients against a 10,000-identity gallery, then a mixed run with enrol/remove requests interleaved,
after which every enrolled sample must be in the gallery (and every removed identity gone).

    python tools/bench_serve.py [--model student.onnx] [--identities 10000] [--duration 10] [--levels 1,8,32]

The load comes from `wrk` (C, one thread, keep-alive; `apt-get install wrk`) so that the client uses
little of the CPU it shares with the server. Without --model, a randomly initialised streamlined
ResNet-18 (the real student architecture, 16x16 input, 112-d) is exported (needs torch; serve does not).
Each request uploads one 16x16 PNG face crop as multipart/form-data.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOKEN = "bench-token"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open(os.getenv("BENCH_BODY"), "rb"):read("*a")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BENCH_BOUNDARY")
local failed = 0
response = function(status, headers, body)
  if status ~= 200 then failed = failed + 1 end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), e.connect, e.read, e.write, e.status,
    e.timeout))
end
"""


def face_png(rng, size: int = 16) -> bytes:
    """A smooth random colour pattern with noise, PNG-encoded (a stand-in for a 16x16 face crop)."""
    base = cv2.resize(rng.uniform(0, 255, (4, 4, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def multipart(fields: list[tuple[str, bytes]], boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for i, (name, data) in enumerate(fields)
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def build_gallery(model: Path, out: Path, identities: int, rng) -> None:
    """A flat mean-template gallery of ``identities`` synthetic identities (2 samples each) bound to ``model``."""
    from lrface.inference.embedder import Embedder
    from lrface.inference.gallery import Gallery

    emb = Embedder(model)
    g = Gallery.new(emb, template="mean", index_type="flat")
    vecs = rng.standard_normal((identities * 2, emb.dim)).astype(np.float32)
    with g.bulk():
        for i in range(identities):
            g.add(
                f"person {i:05d}",
                [f"synthetic/{2 * i}", f"synthetic/{2 * i + 1}"],
                [f"h{2 * i}", f"h{2 * i + 1}"],
                vecs[2 * i : 2 * i + 2],
            )
    g.save(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gallery: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lrface",
            "serve",
            "--gallery",
            str(gallery),
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--workers",
            str(workers),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            time.sleep(0.3)
        if p.poll() is not None:
            raise SystemExit(f"server exited: {p.stderr.read()}")
    raise SystemExit("server did not start in 120 s")


def wrk(port: int, clients: int, seconds: float, body: Path, boundary: str, script: Path) -> dict:
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_BOUNDARY": boundary}
    r = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/identify",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("BENCH "))
    res = json.loads(line[6:])
    res["failed"] = res["status"] + res["connect"] + res["read"] + res["write"] + res["timeout"]
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


class Mutator(threading.Thread):
    """Enrol new identities (2 unique images each) and remove every third one, one request at a time."""

    def __init__(self, port: int, stop: threading.Event, rng):
        super().__init__(daemon=True)
        self.port, self.stop, self.rng = port, stop, rng
        self.expected: dict[str, int] = {}
        self.removed: list[str] = []
        self.ops = self.failed = 0
        self.errors: list[str] = []

    def call(self, conn, method: str, path: str, body: bytes = b"", boundary: str = "") -> dict:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if boundary:
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = json.loads(r.read())
        self.ops += 1
        if r.status != 200:
            self.failed += 1
            self.errors.append(f"{method} {path}: {r.status} {data}")
        return data

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            name = f"new {uuid.uuid4().hex[:8]}"
            boundary = uuid.uuid4().hex
            got = self.call(
                conn,
                "POST",
                f"/identities/{name.replace(' ', '%20')}",
                multipart([("image", face_png(self.rng)), ("image", face_png(self.rng))], boundary),
                boundary,
            )
            if got.get("added") == 2:
                self.expected[name] = 2
            i += 1
            if i % 3 == 0:
                victim = next(iter(self.expected))
                if self.call(conn, "DELETE", f"/identities/{victim.replace(' ', '%20')}").get("removed_samples") == 2:
                    del self.expected[victim]
                    self.removed.append(victim)


def check_gallery(port: int, gallery: Path, base: int, mut: Mutator) -> tuple[int, int]:
    """(lost samples, removed identities still present), from the service and from the files on disk."""
    from lrface.api import Gallery

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/identities")
    served = {r["identity"]: r["samples"] for r in json.loads(c.getresponse().read())["identities"]}
    on_disk = Gallery.open(gallery).identities()
    lost = back = 0
    for seen in (served, on_disk):
        lost += sum(max(0, n - seen.get(name, 0)) for name, n in mut.expected.items())
        back += sum(name in seen for name in mut.removed)
        lost += max(0, base - sum(1 for n in seen if n.startswith("person ")))
    return lost, back


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="student.onnx (default: export a random sresnet18)")
    ap.add_argument("--identities", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=10, help="seconds per level (default 10)")
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--mixed-clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="server processes (lrface serve --workers)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model:
            model = Path(args.model)
        else:
            from bench_identify import export_random_student

            model = export_random_student(tmp)
        gallery = tmp / "g"
        build_gallery(model, gallery, args.identities, rng)
        boundary = uuid.uuid4().hex
        body = tmp / "body"
        body.write_bytes(multipart([("image", face_png(rng))], boundary))
        script = tmp / "identify.lua"
        script.write_text(WRK_SCRIPT)
        port = free_port()
        server = start_server(gallery, port, args.workers)
        try:
            wrk(port, 8, 2, body, boundary, script)  # warm-up
            rows = []
            for c in map(int, args.levels.split(",")):
                r = wrk(port, c, args.duration, body, boundary, script)
                rows.append((f"identify, {c} clients", r, ""))
            stop = threading.Event()
            mut = Mutator(port, stop, rng)
            mut.start()
            r = wrk(port, args.mixed_clients, args.duration, body, boundary, script)
            stop.set()
            mut.join()
            lost, back = check_gallery(port, gallery, args.identities, mut)
            rows.append(
                (
                    f"mixed, {args.mixed_clients} identify clients + 1 enrol/remove client",
                    r,
                    f"{mut.ops} enrol/remove ({mut.failed} failed), {lost} lost samples, {back} removed still present",
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    load_after = os.getloadavg()[0]
    print(
        f"lrface serve, {args.identities:,}-identity flat gallery, model {model.name}, {args.workers} worker(s); "
        f"wrk -t1, {args.duration:g} s per level; {os.cpu_count()} CPUs, load average before/after "
        f"{load_before:.2f}/{load_after:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print("| run | requests/s | p50 ms | p95 ms | p99 ms | failed | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r, note in rows:
        print(
            f"| {name} | {r['rps']:,.0f} | {r['p50'] / 1000:.1f} | {r['p95'] / 1000:.1f} | {r['p99'] / 1000:.1f} | "
            f"{r['failed']} | {note} |"
        )
    if any(r["failed"] for _, r, _ in rows) or mut.failed or lost or back:
        for e in mut.errors[:5]:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
