"""Sweep cases of issue 23 (all named "i23 ..."): outputs that are inputs, two writers of one new --out, numbers
out of range, write errors (a full disk, a read-only file system, no permission: injected into the lrface process
through a sitecustomize that makes fsync fail, as root cannot be refused by permissions), wrong-typed API
arguments, NUL and undecodable bytes in paths, a set whose identities have one image each."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time

import numpy as np

from .fixtures import absent, free_port, gallery_copy, gallery_opens, no_temp_files, scratch
from .runner import ANY, ENV, OK, PY, REPO, TYPE, Sweep

SMOKE = REPO / "configs/face/orl-smoke.yaml"
TINY = ["--set", "strategy=student-only", "student.arch=resnet_tiny", "train.threads=1", "train.epochs=1"]
INJECT = """import errno, os
_err, _only, _fsync = int(os.environ["LRFACE_FAULT_ERRNO"]), os.environ.get("LRFACE_FAULT_ONLY", ""), os.fsync
def _failing(fd):
    if _only in os.readlink(f"/proc/self/fd/{fd}"):
        raise OSError(_err, os.strerror(_err))
    return _fsync(fd)
os.fsync = _failing
"""


def own_cases(s: Sweep, F):
    if not (s.wanted("i23") or s.only.startswith("i23")):  # --only i23 or --only "i23 SOME CASE"
        return
    _ownership(s, F)
    _two_writers(s, F)
    _ranges(s, F)
    _write_errors(s, F)
    _paths_and_types(s, F)
    _one_image_sets(s, F)


def unchanged(root):
    """A check: nothing below ``root`` changed (files and their bytes) since the case was set up."""
    before = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return lambda: "" if {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} == before else "changed"


def _ownership(s: Sweep, F):
    run = scratch(F, "own-run")
    shutil.copytree(F["run"], run)
    s.cli("i23 train --init RUN --out RUN --force", ["train", "--config", SMOKE, "--init", run, "--out", run, "--force",
          *TINY], check=unchanged(run))  # fmt: skip
    data = scratch(F, "own-set")
    shutil.copytree(F["faces"], data)
    for label, out in (("SET", data), ("SET/run", data / "run"), ("SET's parent", data.parent)):
        s.cli(f"i23 train --data SET --out {label} --force", ["train", "--config", SMOKE, "--data", data, "--out", out,
              "--force", *TINY], check=unchanged(data))  # fmt: skip
    s.cli("i23 train --set data.path=SET --out SET", ["train", "--config", SMOKE, "--out", data, "--force", *TINY,
          f"data.path={data}"], check=unchanged(data))  # fmt: skip
    s.cli("i23 prepare ROOT --out ROOT --force", ["prepare", "folder", data, "--out", data, "--force"],
          check=unchanged(data))  # fmt: skip
    g = gallery_copy(F, "own-g")
    shutil.copy(F["tiny"], g / "model.onnx")
    s.cli("i23 gallery build --model G/m --out G", ["gallery", "build", F["faces"], "--model", g / "model.onnx",
          "--out", g, "--force"], check=unchanged(g))  # fmt: skip
    s.cli("i23 embed --out an input image", ["embed", F["img"]["good.png"], "--out", F["img"]["good.png"]],
          check=unchanged(F["img"]["good.png"].parent))  # fmt: skip
    s.cli("i23 evaluate --out the gallery", ["evaluate", "--gallery", F["g"], F["faces"], "--out", F["g"]],
          check=gallery_opens(F["g"], 6))  # fmt: skip


def _two_writers(s: Sweep, F):
    """The same new --out written by two commands at once: one of them is refused, never both 'succeed'."""
    for label, argv in (
        ("gallery build", lambda out: ["gallery", "build", F["big"], "--out", out]),
        ("train", lambda out: ["train", "--config", SMOKE, "--data", F["faces"], "--out", out, *TINY]),
    ):
        case = f"i23 two {label} into one new --out"
        if not s.wanted(case):
            continue
        out = scratch(F, f"own-two-{label.split()[-1]}")
        first = subprocess.Popen([PY, "-m", "lrface", *map(str, argv(out))], env=ENV, cwd=s.work,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(2.0)
        s.cli(case, argv(out), check=lambda first=first: _first_succeeds(first))


def _first_succeeds(first: subprocess.Popen) -> str:
    _, err = first.communicate(timeout=600)
    return "" if first.returncode == 0 else f"the first writer failed: {err.strip().splitlines()[-1:]}"


def _ranges(s: Sweep, F):
    g, good = F["g"], F["img"]["good.png"]
    for t in ("2", "-1.5", "1e308", "1.0000001"):
        s.cli(f"i23 identify --threshold={t}", ["identify", good, "--gallery", g, f"--threshold={t}"])
        s.cli(f"i23 verify --threshold={t}", ["verify", good, good, f"--threshold={t}"])
    s.cli("i23 verify --threshold=1 (in range)", ["verify", good, good, "--threshold=1"], OK)
    for opt in ("--threads", "--workers"):
        s.cli(f"i23 serve {opt} 100000", ["serve", "--gallery", g, opt, "100000"], timeout=30)
    p = scratch(F, "own-p")
    s.cli("i23 prepare --blur 1e6", ["prepare", "folder", F["faces"], "--out", p, "--blur", "1e6"], check=absent(p))
    s.cli("i23 prepare --noise 1e6", ["prepare", "folder", F["faces"], "--out", p, "--noise", "1e6"], check=absent(p))
    s.cli("i23 prepare --workers 100000", ["prepare", "folder", F["faces"], "--out", p, "--workers", "100000"])
    s.cli("i23 train train.threads=100000", ["train", "--config", SMOKE, "--data", F["faces"], "--out", p, *TINY,
          "train.threads=100000"], check=absent(p))  # fmt: skip
    s.cli("i23 benchmark --jobs 100000", ["benchmark", "--data", F["faces"], "--out", p, "--jobs", "100000"])
    from lrface import Recognizer

    s.api("i23 api Recognizer(threads=100000)", lambda: Recognizer(F["tiny"], threads=100_000))
    s.api("i23 api verify threshold=1.5", lambda: Recognizer(F["tiny"]).verify(good, good, threshold=1.5))


def _write_errors(s: Sweep, F):
    inject = F["w"] / "inject"
    inject.mkdir(exist_ok=True)
    (inject / "sitecustomize.py").write_text(INJECT)
    good = F["img"]["good.png"]
    for err in (errno.ENOSPC, errno.EROFS, errno.EACCES):
        name = errno.errorcode[err]
        env = {"PYTHONPATH": f"{inject}{os.pathsep}{REPO}", "LRFACE_FAULT_ERRNO": str(err)}
        for action, argv in (
            ("add", lambda g: ["gallery", "add", g, F["img"]["good.jpg"], "--identity", "New"]),
            ("remove", lambda g: ["gallery", "remove", g, "--identity", "Bob"]),
            ("calibrate", lambda g: ["gallery", "calibrate", g]),
        ):
            g = gallery_copy(F, "own-wg")
            s.cli(f"i23 {name} gallery {action}", argv(g), env=env, check=_all(unchanged(g), no_temp_files(g)))
        out = scratch(F, "own-wb")
        s.cli(
            f"i23 {name} gallery build",
            ["gallery", "build", F["faces"], "--out", out],
            env=env,
            lines=2,
            check=_all(absent(out / "gallery.json"), no_temp_files(out)),
        )  # fmt: skip (+1 line: progress)
        npy = scratch(F, "own-e.npy")
        s.cli(f"i23 {name} embed --out", ["embed", good, "--out", npy], env=env, check=absent(npy))
        run = scratch(F, "own-wt")
        s.cli(f"i23 {name} train at last.pt", ["train", "--config", SMOKE, "--data", F["faces"], "--out", run, *TINY],
              env={**env, "LRFACE_FAULT_ONLY": "last.pt"}, timeout=180, check=no_temp_files(run))  # fmt: skip
        s.cli(f"i23 {name} train at metrics.csv", ["train", "--config", SMOKE, "--data", F["faces"], "--out", run,
              "--force", *TINY], env={**env, "LRFACE_FAULT_ONLY": "metrics.csv"}, timeout=180,
              check=no_temp_files(run))  # fmt: skip
        _service_write_error(s, F, env, name)
        onnx = scratch(F, "own-x.onnx")
        s.cli(f"i23 {name} export --out", ["export", "--onnx", F["run"], "--out", onnx], env=env, timeout=180,
              check=absent(onnx))  # fmt: skip


def _service_write_error(s: Sweep, F, env: dict, name: str):
    """`lrface serve` on a full disk: enrol answers 503 JSON, the gallery keeps its generation, the log one line."""
    from .cases_http import _multipart

    case = f"i23 {name} service enrol"
    if not s.wanted(case):
        return
    g = gallery_copy(F, "own-sg")
    check, port = unchanged(g), free_port()
    srv = subprocess.Popen([PY, "-m", "lrface", "serve", "--gallery", g, "--port", str(port)], env={**ENV, **env},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        body, ctype = _multipart([("image", "a.png", F["img"]["good.jpg"].read_bytes())])
        s.http(case, port, "POST", "/identities/New", body, {"Content-Type": ctype}, expect=(503, 503))
    finally:
        srv.send_signal(signal.SIGINT)
        _, err = srv.communicate(timeout=20)
    log = [line for line in err.splitlines() if line.strip()]
    why = check() or ("traceback in the log" if "Traceback" in err else "")
    s.record(f"{case}: gallery and log", "lrface serve stderr", srv.returncode, (log or [""])[-1], why)


def _all(*checks):
    return lambda: next((why for why in (c() for c in checks) if why), "")


def _paths_and_types(s: Sweep, F):
    from lrface import Gallery, Recognizer

    good = F["img"]["good.png"]
    rec = Recognizer(F["tiny"])
    gal = Gallery.open(F["gt"])
    s.api("i23 api embed a dict", lambda: rec.embed({"a": good}), TYPE)
    s.api("i23 api verify threshold=True", lambda: rec.verify(good, good, threshold=True), TYPE)
    s.api("i23 api verify threshold=[0.5]", lambda: rec.verify(good, good, threshold=[0.5]), TYPE)
    s.api("i23 api identify top_k='3'", lambda: rec.identify([good], gal, top_k="3"), TYPE)
    s.api("i23 api add recognizer='x'", lambda: Gallery.open(gallery_copy(F, "own-ag", "gt")).add("x", [good], "x"),
          TYPE)  # fmt: skip
    s.api("i23 api add_many a list", lambda: gal.add_many([("x", [good])]), TYPE)
    s.api("i23 api search a list", lambda: gal.search([[0.1, 0.2]]), TYPE)
    s.api("i23 api search wrong size", lambda: gal.search(np.zeros((1, 3), np.float32)))
    s.api("i23 api search NaN", lambda: gal.search(np.full((1, gal.core.dim), np.nan, np.float32)))
    s.api("i23 api Recognizer(align='yes')", lambda: Recognizer(F["tiny"], align="yes"), TYPE)
    s.api("i23 api Recognizer(threads='2')", lambda: Recognizer(F["tiny"], threads="2"), TYPE)
    s.api("i23 api create recognizer='x'", lambda: Gallery.create(scratch(F, "own-cg"), "x"), TYPE)
    s.api("i23 api calibrate seed='x'", lambda: gal.calibrate(seed="x"), TYPE)
    s.api("i23 api embed NUL path", lambda: rec.embed(f"{good}\x00.png"))
    s.api("i23 api Gallery.open NUL", lambda: Gallery.open("g\x00"))
    s.api("i23 api Recognizer NUL", lambda: Recognizer("m\x00.onnx"))
    odd = F["w"] / os.fsdecode(b"odd-\xff.png")
    if not odd.exists():
        shutil.copy(good, odd)
    s.cli("i23 embed undecodable name", ["embed", odd, "--json"], OK)
    s.cli("i23 identify undecodable name", ["identify", odd, "--gallery", F["g"]], OK)
    s.cli("i23 embed undecodable missing", ["embed", F["w"] / os.fsdecode(b"gone-\xfe.png"), "--json"])
    s.cli("i23 gallery list undecodable", ["gallery", "list", F["w"] / os.fsdecode(b"g-\xfd")])
    s.cli("i23 train data.path with NUL", ["train", "--config", SMOKE, "--set", 'data.path="a\\0b"', "--out",
          scratch(F, "own-nul")])  # fmt: skip


def _one_image_sets(s: Sweep, F):
    from lrface.data.packed import write_packed_set

    one = F["w"] / "own-one-image-set"
    if not (one / "manifest.json").exists():
        images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
        write_packed_set(one, {"train": (images, np.arange(6))}, [f"p{i}" for i in range(6)], items=[])
    out = scratch(F, "own-one")
    s.cli("i23 train one image per identity", ["train", "--config", SMOKE, "--data", one, "--out", out, *TINY],
          timeout=120, check=absent(out / "checkpoints"))  # fmt: skip
    s.cli("i23 train one image, val_fraction", ["train", "--config", SMOKE, "--data", one, "--out", out, *TINY,
          "data.val_fraction=0.5"], ANY, timeout=120)  # fmt: skip
