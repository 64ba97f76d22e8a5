"""Sweep cases on model identity and stored metadata: damaged or swapped model files (packaged ones in a copy of
the package), galleries of another model, tampered gallery metadata, vectors and ONNX metadata. Each must end
in one line, exit 2 (CLI), a UserError (API) or 503 (a service whose gallery is rebuilt or tampered)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import numpy as np

from .fixtures import free_port, gallery_copy, scratch
from .runner import ENV, PY, REPO, Sweep
from .tamper import flip_weights, republish

CAL = '{{"far": 0.01, "identify_threshold": {}, "verify_threshold": 0.3, "identities": 3, "date": "d"}}'
TAMPERED_INFO = {
    "calibration NaN threshold": {"calibration": CAL.format("NaN")},
    "calibration threshold 2": {"calibration": CAL.format("2")},
    "calibration threshold a string": {"calibration": CAL.format('"high"')},
    "calibration a list": {"calibration": "[1, 2]"},
    "embedding_dim a string": {"embedding_dim": '"112"'},
    "template a number": {"template": "7"},
    "index_params negative": {"index_params": '{"nprobe": -3}'},
    "model_sha256 not hex": {"model_sha256": '"abc"'},
}


def _package_copy(F, name: str, damage) -> dict:
    """ENV running lrface from a copy of the package whose packaged files ``damage(pretrained_dir)`` changed."""
    root = scratch(F, name)
    shutil.copytree(REPO / "lrface", root / "lrface", ignore=shutil.ignore_patterns("__pycache__"))
    damage(root / "lrface" / "pretrained")
    return {**ENV, "PYTHONPATH": str(root)}


def model_cases(s: Sweep, F):
    good = F["img"]["good.png"]
    default = json.loads((REPO / "lrface" / "pretrained" / "index.json").read_text())["models"][0]  # what commands use
    flipped = {"flipped": lambda p: flip_weights(p / f"{default}.onnx", p / f"{default}.onnx")}
    swapped = {"swapped": lambda p: shutil.copy(p / "sr18-celeba-ekd.onnx", p / f"{default}.onnx")}
    for label, damage in (*flipped.items(), *swapped.items()):
        if not s.wanted(f"packaged {label}"):
            continue
        env = _package_copy(F, f"pkg-{label}", damage)
        s.cli(f"packaged {label}: models", ["models"], env=env)
        s.cli(f"packaged {label}: embed", ["embed", good, "--out", scratch(F, "e.npy")], env=env)
        s.cli(f"packaged {label}: verify x x", ["verify", good, good], env=env)
        s.cli(f"packaged {label}: identify a folder", ["identify", good, "--gallery", F["faces"]], env=env)
    tiny = F["tiny"]
    flip = flip_weights(tiny, scratch(F, "flip.onnx"))
    nan = flip_weights(tiny, scratch(F, "nan.onnx"), b"\xff")
    gt = scratch(F, "gt-sha")  # built now: a gallery fixture from before model_sha256 is checked on weights only
    subprocess.run(
        [PY, "-m", "lrface", "gallery", "build", str(F["faces"]), "--model", str(tiny), "--out", str(gt)],
        env=ENV,
        capture_output=True,
        check=True,
    )
    s.cli("user model flipped vs its gallery", ["identify", good, "--gallery", gt, "--model", flip])
    s.cli("user model NaN: verify x x", ["verify", good, good, "--model", nan, "--threshold", "0.5"])
    s.cli("user model NaN: embed", ["embed", good, "--model", nan, "--out", scratch(F, "e.npy")])
    s.cli("gallery of another packaged model", ["identify", good, "--gallery", F["g"], "--model", "sr18-celeba-ekd"])
    s.cli("gallery of another embedding size", ["identify", good, "--gallery", F["g"], "--model", tiny])
    from lrface import Recognizer

    s.api("api Recognizer(NaN model).embed", lambda: Recognizer(nan).embed(good))
    s.api("api identify with a flipped model", lambda: Recognizer(flip).identify(good, gt))
    _onnx_metadata_cases(s, F, good)


def _onnx_metadata_cases(s: Sweep, F, good):
    import onnx

    for key, value in (("lrface.input_size", "abc"), ("lrface.mean", "[NaN, 0, 0]"), ("lrface.std", "[0, 1, 1]")):
        if not s.wanted(f"onnx metadata {key}"):
            continue
        proto = onnx.load(str(F["tiny"]))
        props = {p.key: p.value for p in proto.metadata_props}
        del proto.metadata_props[:]
        onnx.helper.set_model_props(proto, {**props, key: value})
        bad = scratch(F, "meta.onnx")
        onnx.save(proto, str(bad))
        s.cli(f"onnx metadata {key}={value}", ["embed", good, "--model", bad, "--out", scratch(F, "e.npy")])


def metadata_cases(s: Sweep, F):
    good = F["img"]["good.png"]
    for label, info in TAMPERED_INFO.items():
        g = gallery_copy(F, "tamper")
        republish(g, info)
        s.cli(f"gallery info {label}", ["identify", good, "--gallery", g])
    for label, edit in (
        ("vectors NaN", lambda v: np.where(v > 0, np.nan, v)),
        ("vectors scaled x3", lambda v: 3 * v),
    ):
        g = gallery_copy(F, "tamper")
        republish(g, vectors=edit)
        s.cli(f"gallery {label}", ["identify", good, "--gallery", g])
    for label, edit in (
        ("sizes a list", {"sizes": []}),
        ("meta ../x", {"meta": "../x.sqlite"}),
        ("format 1", {"format": 1}),
    ):
        g = gallery_copy(F, "tamper")
        ptr = json.loads((g / "gallery.json").read_text())
        (g / "gallery.json").write_text(json.dumps({**ptr, **edit}))
        s.cli(f"gallery.json {label}", ["identify", good, "--gallery", g])


def served_model_cases(s: Sweep, F):
    """A served gallery rebuilt on disk with another model (same or other size) or republished with tampered
    metadata: 503, and 200 again once rebuilt with the served model."""
    if not s.wanted("serve: a gallery rebuilt with another model or tampered"):
        return
    g = gallery_copy(F, "served-model")
    port = free_port()
    srv = subprocess.Popen(
        [PY, "-m", "lrface", "serve", "--gallery", g, "--port", str(port)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            if srv.poll() is not None or _up(port):
                break
            time.sleep(0.2)
        body, ctype = _upload(F["img"]["good.png"].read_bytes())
        hdr = {"Content-Type": ctype}
        build = [PY, "-m", "lrface", "gallery", "build", F["faces"], "--out", g, "--force"]
        for label, extra in (
            ("another packaged model", ["--model", "sr18-celeba-ekd"]),
            ("another size", ["--model", F["tiny"]]),
        ):
            subprocess.run([*map(str, build), *map(str, extra)], env=ENV, capture_output=True, check=True)
            s.http(f"serve: gallery rebuilt with {label}", port, "POST", "/identify", body, hdr, (503, 503))
            s.http(f"serve: /health, gallery of {label}", port, "GET", "/health", expect=(503, 503))
        republish(g, TAMPERED_INFO["calibration NaN threshold"])
        s.http("serve: calibration NaN threshold", port, "POST", "/identify", body, hdr, (503, 503))
        subprocess.run(list(map(str, build)), env=ENV, capture_output=True, check=True)
        s.http("serve: rebuilt with the served model", port, "POST", "/identify", body, hdr, (200, 200))
    finally:
        srv.terminate()
        err = srv.communicate(timeout=30)[1]
    s.record(
        "serve: no traceback in the log",
        "serve",
        srv.returncode,
        err.strip()[-100:],
        "traceback" * ("Traceback" in err),
    )


def _up(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _upload(data: bytes) -> tuple[bytes, str]:
    b = "sweepboundary"
    body = f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'.encode() + data
    return body + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"
