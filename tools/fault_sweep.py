"""Adversarial bad-input sweep over every lrface command, the Python API and the HTTP service.

    python tools/fault_sweep.py [--work /tmp/lrface-faults] [--only SUBSTRING] [--fail-only]

Builds fixtures under --work (generated faces, a 1-epoch resnet_tiny run and its ONNX export, galleries,
~25 kinds of broken image), then runs each case and prints one row: case, command, exit code (or HTTP
status / exception type), the first line of stderr, PASS/FAIL. A case FAILs on a traceback, an exit code
outside {0, 1, 2} (CLI), a bad input that does not exit 2, an error of more than one stderr line, or an
output left half-written; the API must raise lrface.errors.UserError (not a leaked internal exception);
the service must answer a client mistake with a 4xx JSON {"error", "status"}, never 500. Exit code 1 when
any case fails. Fixtures are reused on the next run (delete --work to rebuild them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
BAD, ANY, OK = "bad", "any", "ok"
BIG_IDS = 400  # identities x 10 images in the folder that interrupted builds and adds work on  # expected outcome: exit 2; {0, 1, 2}; {0, 1}


@dataclass
class Row:
    case: str
    command: str
    code: str
    first: str
    ok: bool
    why: str = ""


@dataclass
class Sweep:
    work: Path
    only: str = ""
    rows: list[Row] = field(default_factory=list)

    def record(self, case, command, code, first, why):
        self.rows.append(Row(case, command, str(code), first, not why, why))
        r = self.rows[-1]
        print(f"{'PASS' if r.ok else 'FAIL'}  {case:34.34}  {code!s:>6}  {first[:110]}{'  <- ' + why if why else ''}")
        sys.stdout.flush()

    def wanted(self, case: str) -> bool:
        return self.only in case

    # -- CLI ------------------------------------------------------------------------------------
    def cli(self, case, args, expect=BAD, timeout=90, check=None, lines=1, env=None):
        """Run `python -m lrface ARGS`; ``check()`` returns a failure reason for the output state, or ''."""
        if not self.wanted(case):
            return
        args = [str(a) for a in args]
        cmd = "lrface " + " ".join(_quote(a) for a in args)
        try:
            p = subprocess.run(
                [PY, "-m", "lrface", *args],
                cwd=self.work,
                env={**ENV, **(env or {})},
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            self.record(case, cmd, "hang", f"no answer in {timeout} s", "ran past the timeout (work started?)")
            return
        err = [line for line in p.stderr.splitlines() if line.strip()]
        first = err[-1] if p.returncode == 2 and err else (err[0] if err else p.stdout.strip()[:80])
        why = ""
        if "Traceback" in p.stderr:
            why = "traceback"
        elif p.returncode not in (0, 1, 2):
            why = f"exit {p.returncode}"
        elif expect == BAD and p.returncode != 2:
            why = "bad input not refused (exit != 2)"
        elif expect == OK and p.returncode not in (0, 1):
            why = "good input refused"
        elif p.returncode == 2 and len(err) > lines:
            why = f"{len(err)} stderr lines"
        if not why and check:
            why = check()
        self.record(case, cmd, p.returncode, first, why)

    # -- Python API -----------------------------------------------------------------------------
    def api(self, case, fn, expect=BAD):
        if not self.wanted(case):
            return
        from lrface.errors import UserError

        try:
            out = fn()
        except UserError as e:
            msg = str(e)
            why = "multi-line message" if "\n" in msg else ("" if expect in (BAD, ANY) else "good input refused")
            self.record(case, "api", type(e).__name__, msg, why)
            return
        except Exception as e:  # noqa: BLE001 - the point is to catch what leaks
            self.record(case, "api", type(e).__name__, f"{type(e).__name__}: {e}".splitlines()[0], "leaked exception")
            return
        self.record(case, "api", "ok", repr(out)[:100], "bad input accepted" if expect == BAD else "")

    # -- HTTP -----------------------------------------------------------------------------------
    def http(self, case, port, method, path, body=b"", headers=None, expect=(400, 499)):
        if not self.wanted(case):
            return
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            conn.close()
        except Exception as e:  # noqa: BLE001
            self.record(case, f"{method} {path}", "conn", str(e), "no HTTP answer")
            return
        why = ""
        try:
            doc = json.loads(raw)
        except ValueError:
            doc, why = None, "answer is not JSON"
        first = json.dumps(doc)[:110] if doc is not None else raw[:80].decode("latin-1")
        if resp.status >= 500 and resp.status > expect[1]:
            why = f"server error {resp.status}"
        elif not expect[0] <= resp.status <= expect[1]:
            why = f"status {resp.status}, expected {expect[0]}-{expect[1]}"
        elif resp.status >= 400 and not (isinstance(doc, dict) and "error" in doc and doc.get("status") == resp.status):
            why = "error answer lacks {error, status}"
        self.record(case, f"{method} {path}", resp.status, first, why)


def _quote(a: str) -> str:
    return repr(a) if (not a or any(c in a for c in " \n\t'\"")) else a


# -- fixtures ------------------------------------------------------------------------------------
def _faces(n_ids, per_id, size=32, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_ids):
        base = cv2.resize(
            rng.uniform(0, 255, (4, 4, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
        )
        for _ in range(per_id):
            im = np.roll(base, rng.integers(-1, 2, 2), axis=(0, 1)) * rng.uniform(0.85, 1.15)
            out.append((i, np.clip(im + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)))
    return out


def _write_folder(root: Path, names, n_ids, per_id, seed=0):
    from PIL import Image

    for i, im in _faces(n_ids, per_id, seed=seed):
        d = root / names[i]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{len(list(d.iterdir())):04d}.png")
    return root


def _run(*args, **kw):
    p = subprocess.run([PY, "-m", "lrface", *map(str, args)], env=ENV, capture_output=True, text=True, **kw)
    if p.returncode:
        raise SystemExit(f"fixture step failed: lrface {' '.join(map(str, args))}\n{p.stderr}")
    return p


def bad_images(d: Path) -> dict[str, Path]:
    """Every kind of broken or unusual image file, by name."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    face = _faces(1, 1, size=32)[0][1]
    pil = Image.fromarray(face)
    f = {}

    def put(name, writer):
        f[name] = d / name
        if not f[name].exists():
            writer(f[name])

    put("good.png", lambda p: pil.save(p))
    put("good.jpg", lambda p: pil.save(p, quality=95))
    put("zero.jpg", lambda p: p.write_bytes(b""))
    put("text.jpg", lambda p: p.write_text("this is not an image\n"))
    put("trunc.jpg", lambda p: p.write_bytes(f["good.jpg"].read_bytes()[:300]))
    put("trunc.png", lambda p: p.write_bytes(f["good.png"].read_bytes()[:120]))
    put("png16.png", lambda p: Image.fromarray(face[..., 0].astype(np.uint16) * 257).save(p))
    put("gray.png", lambda p: pil.convert("L").save(p))
    put("rgba.png", lambda p: pil.convert("RGBA").save(p))
    put("palette.png", lambda p: pil.convert("P").save(p))
    put("cmyk.jpg", lambda p: pil.convert("CMYK").save(p))
    put("1x1.png", lambda p: pil.resize((1, 1)).save(p))
    put("10000x10.png", lambda p: pil.resize((10000, 10)).save(p))
    put("anim.gif", lambda p: pil.save(p, save_all=True, append_images=[pil.rotate(90)], loop=0))
    put("img.webp", lambda p: pil.save(p))
    put("multi.tiff", lambda p: pil.save(p, save_all=True, append_images=[pil.rotate(90)]))
    put("gif-as.jpg", lambda p: pil.save(p, format="GIF"))

    def exif(p):
        ex = Image.Exif()
        ex[0x0112] = 6
        pil.save(p, exif=ex)

    put("exif-rot.jpg", exif)

    def bomb(p):  # a valid PNG header claiming 60000 x 60000 pixels
        import struct
        import zlib

        ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
        chunk = lambda k, b: struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b))
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)))

    put("bomb.png", bomb)
    put("png-as.jpg", lambda p: pil.save(p, format="PNG"))
    put("eps-as.jpg", lambda p: pil.save(p, format="EPS"))  # Pillow would hand it to Ghostscript
    put("tga-as.png", lambda p: pil.save(p, format="TGA"))
    (d / "dir.jpg").mkdir(exist_ok=True)
    f["dir.jpg"] = d / "dir.jpg"
    put("sp ace é.png", lambda p: pil.save(p))
    put("new\nline.png", lambda p: pil.save(p))
    put("bad\nname.jpg", lambda p: p.write_text("not an image"))
    put("nan.npy", lambda p: np.save(p, np.zeros(3)))
    f["missing.png"] = d / "missing.png"
    f["dangling.png"] = d / "dangling.png"
    if not f["dangling.png"].is_symlink():
        os.symlink(d / "nowhere.png", f["dangling.png"])
    return f


def fixtures(work: Path) -> dict:
    """Generated faces, a 1-epoch run + export, galleries of the packaged and the tiny model, broken images."""
    work.mkdir(parents=True, exist_ok=True)
    ENV["LRFACE_CACHE"] = str(work / "cache")
    F = {"w": work}
    names = ["Ann Lee", "Bob", "Zoë", "d", "e", "f"]
    F["faces"] = work / "faces"
    if not F["faces"].exists():
        _write_folder(F["faces"], names, 6, 6)
    F["big"] = work / "big"  # enough images that a build can be killed half-way
    if not F["big"].exists():
        _write_folder(F["big"], [f"p{i:03d}" for i in range(BIG_IDS)], BIG_IDS, 10, seed=1)
    F["run"] = work / "run"
    if not (F["run"] / "export" / "student.onnx").exists():
        shutil.rmtree(F["run"], ignore_errors=True)
        _run(
            "train",
            "--config",
            REPO / "configs/face/orl-smoke.yaml",
            "--data",
            F["faces"],
            "--out",
            F["run"],
            "--set",
            "strategy=student-only",
            "student.arch=resnet_tiny",
            "train.epochs=1",
            "train.threads=1",
            "train.batch_size=8",
        )
        _run("export", "--onnx", F["run"])
    F["tiny"] = F["run"] / "export" / "student.onnx"
    F["g"] = work / "g"  # packaged default model
    if not F["g"].exists():
        _run("gallery", "build", F["faces"], "--out", F["g"])
        _run("gallery", "calibrate", F["g"])
    F["gt"] = work / "gt"  # the tiny model
    if not F["gt"].exists():
        _run("gallery", "build", F["faces"], "--out", F["gt"], "--model", F["tiny"])
    F["g1"] = work / "g1"  # one identity
    if not F["g1"].exists():
        shutil.copytree(F["faces"] / "Bob", work / "one-id" / "Bob", dirs_exist_ok=True)
        _run("gallery", "build", work / "one-id", "--out", F["g1"])
    F["img"] = bad_images(work / "img")
    F["afile"] = work / "afile.txt"
    F["afile"].write_text("a plain file\n")
    F["empty"] = work / "emptydir"
    F["empty"].mkdir(exist_ok=True)
    return F


def scratch(F, name: str) -> Path:
    """A fresh path under work/scratch for one case."""
    p = F["w"] / "scratch" / name
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def gallery_copy(F, name, src="g") -> Path:
    p = scratch(F, name)
    shutil.copytree(F[src], p)
    return p


def no_temp_files(root: Path):
    """A check: no temporary or half-written file left below ``root``'s folder."""

    def check():
        base = root if root.is_dir() else root.parent
        left = [p.name for p in base.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]
        return f"temporary files left: {left[:3]}" if left else ""

    return check


def absent(path: Path):
    return lambda: f"{path} was created" if path.exists() else ""


def gallery_opens(g: Path, identities: int):
    def check():
        p = subprocess.run(
            [PY, "-m", "lrface", "gallery", "list", str(g), "--json"], env=ENV, capture_output=True, text=True
        )
        if p.returncode:
            return f"gallery no longer opens: {p.stderr.strip()[:80]}"
        n = len(json.loads(p.stdout)["identities"])
        return "" if n == identities else f"gallery has {n} identities, expected {identities}"

    return check


# -- the cases -----------------------------------------------------------------------------------
def image_cases(s: Sweep, F):
    imgs, g = F["img"], F["g"]
    fine = {
        "anim.gif",
        "multi.tiff",
        "good.png",
        "good.jpg",
        "png16.png",
        "gray.png",
        "rgba.png",
        "palette.png",
        "cmyk.jpg",
        "exif-rot.jpg",
        "img.webp",
        "png-as.jpg",
        "gif-as.jpg",
        "sp ace é.png",
        "new\nline.png",
    }
    either = {"10000x10.png", "nan.npy"}  # refusing or reading them are both fine
    for name, path in imgs.items():
        exp = OK if name in fine else ANY if name in either else BAD
        s.cli(f"identify image {name!r}", ["identify", path, "--gallery", g], exp)
        s.cli(f"verify image {name!r}", ["verify", path, imgs["good.png"], "--gallery", g], BAD if exp == BAD else ANY)
        out = scratch(F, f"emb-{abs(hash(name))}.npy")
        s.cli(f"embed image {name!r}", ["embed", path, "--out", out], exp, check=absent(out) if exp == BAD else None)
        gc = gallery_copy(F, "g-add-img")
        s.cli(f"gallery add image {name!r}", ["gallery", "add", gc, path, "--identity", "Ann Lee"], ANY)


def path_cases(s: Sweep, F):
    g, w, imgs = F["g"], F["w"], F["img"]
    missing, afile, empty = w / "does-not-exist", F["afile"], F["empty"]
    for what, p in (("missing", missing), ("a file", afile), ("empty dir", empty)):
        s.cli(f"gallery build from {what}", ["gallery", "build", p, "--out", scratch(F, "gb")])
        s.cli(f"identify --gallery {what}", ["identify", imgs["good.png"], "--gallery", p])
        s.cli(f"gallery list {what}", ["gallery", "list", p])
        s.cli(f"gallery add to {what}", ["gallery", "add", p, imgs["good.png"], "--identity", "x"])
        s.cli(f"gallery remove from {what}", ["gallery", "remove", p, "--identity", "Bob"])
        s.cli(f"gallery calibrate {what}", ["gallery", "calibrate", p])
        s.cli(f"serve --gallery {what}", ["serve", "--gallery", p, "--port", _free_port()])
        s.cli(f"identify probe {what}", ["identify", p, "--gallery", g])
        s.cli(f"embed {what}", ["embed", p, "--json"])
        s.cli(f"train --data {what}", ["train", "--data", p, "--out", scratch(F, "tr"), "--set", "train.epochs=1"])
        s.cli(f"train --config {what}", ["train", "--config", p, "--data", F["faces"], "--out", scratch(F, "tr")])
        s.cli(f"export --onnx {what}", ["export", "--onnx", p])
        s.cli(f"evaluate --packed {what}", ["evaluate", "--packed", p, "--out", scratch(F, "ev")])
        s.cli(f"evaluate --pairs {what}", ["evaluate", "--pairs", p, "--images", F["faces"], "--out", scratch(F, "ev")])
        s.cli(f"prepare folder {what}", ["prepare", "folder", p, "--out", scratch(F, "prep")])
        s.cli(f"benchmark --plan {what}", ["benchmark", "--plan", p, "--out", scratch(F, "bench")])
        s.cli(f"train --resume {what}", ["train", "--resume", p])
        s.cli(f"--model {what}", ["identify", imgs["good.png"], "--gallery", g, "--model", p])
    s.cli(
        "gallery build: images not in identity dirs",
        ["gallery", "build", imgs["good.png"].parent, "--out", scratch(F, "gb")],
    )
    only_bad = scratch(F, "onlybad")
    (only_bad / "x").mkdir(parents=True)
    (only_bad / "x" / "a.jpg").write_text("no image")
    out = scratch(F, "gb-onlybad")
    # the progress line ("embedding 1 images ...") comes before the error
    s.cli(
        "gallery build: only broken images",
        ["gallery", "build", only_bad, "--out", out],
        BAD,
        check=absent(out),
        lines=2,
    )
    s.cli("gallery build --out inside folder", ["gallery", "build", F["faces"], "--out", F["faces"] / "g"])
    s.cli("gallery build --out existing gallery", ["gallery", "build", F["faces"], "--out", g])
    s.cli("gallery build --out a file", ["gallery", "build", F["faces"], "--out", afile])
    s.cli("gallery build --out below a file", ["gallery", "build", F["faces"], "--out", afile / "g"])
    s.cli(
        "gallery build --index ivf tiny",
        ["gallery", "build", F["faces"], "--out", scratch(F, "ivf"), "--index", "ivf"],
        ANY,
    )
    s.cli(
        "gallery build --index hnsw",
        ["gallery", "build", F["faces"], "--out", scratch(F, "hnsw"), "--index", "hnsw"],
        OK,
    )
    s.cli(
        "gallery build --template all",
        ["gallery", "build", F["faces"], "--out", scratch(F, "all"), "--template", "all"],
        OK,
    )
    s.cli("gallery build --index bogus", ["gallery", "build", F["faces"], "--out", scratch(F, "gb"), "--index", "lsh"])
    s.cli("embed --out a dir", ["embed", imgs["good.png"], "--out", empty])
    s.cli("embed --out below a file", ["embed", imgs["good.png"], "--out", afile / "v.npy"])
    s.cli("embed --out and --json", ["embed", imgs["good.png"], "--out", scratch(F, "v.npy"), "--json"])
    s.cli("embed --out v.txt (not .npy)", ["embed", imgs["good.png"], "--out", scratch(F, "v.txt")])
    s.cli("embed --out existing file", ["embed", imgs["good.png"], "--out", scratch(F, "exists.npy")], OK)
    s.cli("export --out a dir", ["export", "--onnx", F["run"], "--out", empty])
    s.cli("evaluate --out a file", ["evaluate", "--packed", F["faces"], "--out", afile])
    s.cli("train --out a file", ["train", "--data", F["faces"], "--out", afile])
    s.cli("prepare --out a file", ["prepare", "folder", F["faces"], "--out", afile])
    s.cli("benchmark --out a file", ["benchmark", "--data", F["faces"], "--out", afile])


def special_file_cases(s: Sweep, F):
    """A named pipe (opening it blocks) and /dev/zero (reading it never ends) where a file is expected."""
    fifo = F["w"] / "fifo.png"
    if not fifo.exists():
        os.mkfifo(fifo)
    pipe_yaml, pipe_txt = F["w"] / "fifo.yaml", F["w"] / "fifo.txt"
    for p in (pipe_yaml, pipe_txt):
        if not p.exists():
            os.mkfifo(p)
    g, good = F["g"], F["img"]["good.png"]
    for label, path in (("fifo", fifo), ("/dev/zero", Path("/dev/zero"))):
        s.cli(f"embed {label}", ["embed", path, "--json"], timeout=30)
        s.cli(f"identify {label}", ["identify", path, "--gallery", g], timeout=30)
        s.cli(f"verify {label}", ["verify", path, good, "--gallery", g], timeout=30)
        s.cli(f"gallery add {label}", ["gallery", "add", gallery_copy(F, "gfifo"), path, "--identity", "x"], timeout=30)
        s.cli(f"--model {label}", ["embed", good, "--json", "--model", path], timeout=30)
    s.cli(
        "train --config fifo",
        ["train", "--config", pipe_yaml, "--data", F["faces"], "--out", scratch(F, "t")],
        timeout=30,
    )
    s.cli("benchmark --plan fifo", ["benchmark", "--plan", pipe_yaml, "--out", scratch(F, "b")], timeout=30)
    s.cli(
        "evaluate --pairs fifo",
        ["evaluate", "--pairs", pipe_txt, "--images", F["faces"], "--out", scratch(F, "e")],
        timeout=30,
    )
    fdir = scratch(F, "fifo-folder")
    (fdir / "x").mkdir(parents=True)
    shutil.copy(good, fdir / "x" / "a.png")
    os.mkfifo(fdir / "x" / "b.png")
    s.cli("gallery build with a fifo inside", ["gallery", "build", fdir, "--out", scratch(F, "gf")], timeout=30)
    s.cli("identify folder with a fifo", ["identify", fdir, "--gallery", g], timeout=30)
    s.api("api embed fifo", lambda: __import__("lrface").Recognizer().embed(fifo))
    s.api("api embed /dev/zero", lambda: __import__("lrface").Recognizer().embed("/dev/zero"))


def run_dir_cases(s: Sweep, F):
    """Damaged run directories and plans, an --out that is an input, a device or pipe, and environment faults."""
    good = F["img"]["good.png"]
    run = scratch(F, "run-cfg")
    shutil.copytree(F["run"], run)
    (run / "config.yaml").write_text("train: {epochs: [\n")
    s.cli("train --resume, config.yaml garbage", ["train", "--resume", run])
    s.cli("export, config.yaml garbage", ["export", "--onnx", run, "--out", scratch(F, "cfg.onnx")], ANY)
    run = scratch(F, "run-nockpt")
    shutil.copytree(F["run"], run)
    for ck in (run / "checkpoints").iterdir():
        ck.unlink() if ck.is_file() else shutil.rmtree(ck)
        ck.mkdir()  # each checkpoint a folder
    s.cli("export, checkpoints are folders", ["export", "--onnx", run, "--out", scratch(F, "x.onnx")])
    s.cli("train --resume, checkpoints folders", ["train", "--resume", run])
    run = scratch(F, "run-self")
    shutil.copytree(F["run"], run)
    best = run / "checkpoints" / "best.pt"
    before = best.read_bytes() if best.exists() else None
    s.cli(
        "export --out = its checkpoint",
        ["export", "--onnx", run, "--out", best],
        ANY,
        check=lambda: "" if before is None or best.read_bytes() == before else "overwrote the input checkpoint",
    )
    fifo_out = scratch(F, "fifo-out.npy")
    os.mkfifo(fifo_out)
    s.cli(
        "embed --out a named pipe",
        ["embed", good, "--out", fifo_out],
        check=lambda: "" if fifo_out.is_fifo() else "replaced the pipe with a file",
        timeout=30,
    )
    s.cli("train, $LRFACE_DATA missing", ["train", "--config", REPO / "configs/face/orl-smoke.yaml", "--out",
          scratch(F, "t")], env={"LRFACE_DATA": str(F["w"] / "nope")}, timeout=60)  # fmt: skip
    smoke = REPO / "configs/face/orl-smoke.yaml"
    for label, text, extra in (
        ("unknown method", f"config: {smoke}\nmethods: [ekd, magic]\n", []),
        ("empty methods", f"config: {smoke}\nmethods: []\n", []),
        ("missing config", "config: nope.yaml\nmethods: [ekd]\n", []),
        ("unknown key", f"config: {smoke}\nmethodz: [ekd]\n", []),
        ("ablation not a map", f"config: {smoke}\nmethods: [x]\nablations: {{x: 5}}\n", []),
        ("invalid yaml", "methods: [\n", []),
        ("binary", "\udcff\udcfe", []),
        ("a list", "- ekd\n", []),
        ("--ablation not yaml", f"config: {smoke}\nmethods: [ekd]\n", ["--ablation", "x:a={"]),
        ("--ablation no colon", f"config: {smoke}\nmethods: [ekd]\n", ["--ablation", "x"]),
    ):
        plan = F["w"] / "plans" / f"{label.replace(' ', '-')}.yaml"
        plan.parent.mkdir(exist_ok=True)
        plan.write_bytes(text.encode("utf-8", "surrogateescape"))
        s.cli(f"benchmark plan {label}", ["benchmark", "--plan", plan, "--data", F["faces"], "--out",
              scratch(F, "bp"), *extra], timeout=60)  # fmt: skip
    s.cli("train --resume --set not yaml", ["train", "--resume", F["run"], "--set", "train.epochs={"])


def mixed_folder_cases(s: Sweep, F):
    """Identity folders with every kind of broken image among good ones: prepare, train, gallery build and
    evaluate skip the broken files (with a reason) and finish; LFW-style pairs naming a missing or empty file."""
    mixed = scratch(F, "mixed")
    shutil.copytree(F["faces"], mixed)
    for name, path in F["img"].items():
        if path.is_file() and not path.is_symlink() and "\n" not in name and name.endswith((".jpg", ".png")):
            shutil.copy(path, mixed / "Bob" / f"x-{name}")
    tiny = ["--set", "strategy=student-only", "student.arch=resnet_tiny", "train.threads=1", "train.epochs=1"]
    smoke = REPO / "configs/face/orl-smoke.yaml"
    s.cli("prepare a folder with broken images", ["prepare", "folder", mixed, "--out", scratch(F, "pm"),
          "--no-detect-fallback", "box"], OK, timeout=300)  # fmt: skip
    s.cli("train on a folder with broken images", ["train", "--config", smoke, "--data", mixed, *tiny, "--out",
          scratch(F, "tm")], OK, timeout=300)  # fmt: skip
    s.cli("train, $LRFACE_CACHE below a file", ["train", "--config", smoke, "--data", mixed, *tiny, "--out",
          scratch(F, "tc")], env={"LRFACE_CACHE": str(F["afile"] / "c")}, timeout=300)  # fmt: skip
    s.cli("build from a folder with broken images", ["gallery", "build", mixed, "--out", scratch(F, "gm")], OK)
    s.cli("evaluate probes with broken images", ["evaluate", "--gallery", F["g"], mixed, "--out", scratch(F, "em")], OK)
    lfw = scratch(F, "lfw")
    for n in ("Bob", "Ann"):
        (lfw / n).mkdir(parents=True)
        for i in (1, 2, 3):
            shutil.copy(F["faces"] / "Bob" / f"000{i}.png", lfw / n / f"{n}_000{i}.jpg")
    (lfw / "Bob" / "Bob_0002.jpg").write_bytes(b"")
    pairs = F["w"] / "pairs-lfw.txt"
    pairs.write_text("1 1\nBob 1 2\nBob 1 Ann 3\n")
    ev = ["evaluate", "--pairs", pairs, "--images", lfw, "--out", scratch(F, "ep")]
    s.cli("evaluate --pairs, an empty image", ev, lines=2, timeout=300)  # after the "aligning ..." progress line
    pairs.write_text("1 1\nBob 1 3\nBob 1 Ann 3\n")
    s.cli("evaluate --pairs, $LRFACE_CACHE a file", ev, env={"LRFACE_CACHE": str(F["afile"])}, timeout=300)
    pairs.write_text("1 1\nBob 1 2\nBob 1 Nobody 3\n")
    s.cli("evaluate --pairs, a missing person", ev, lines=2, timeout=300)
    pairs.write_text("1 1\nBob 1 9\nBob 1 Ann 3\n")
    s.cli("evaluate --pairs, image number 9", ev, lines=2, timeout=300)


def packed_cases(s: Sweep, F):
    """A packed set (from `prepare`) with each file truncated, garbled or disagreeing: evaluate and train refuse it."""
    ref = F["w"] / "packed"
    if not (ref / "manifest.json").exists():
        _run("prepare", "folder", F["faces"], "--out", ref, "--no-detect-fallback", "box", "--split-fraction", "0.3")
    smoke = REPO / "configs/face/orl-smoke.yaml"
    tiny = ["--set", "strategy=student-only", "student.arch=resnet_tiny", "train.threads=1", "train.epochs=1"]
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file() and p.suffix in (".npy", ".json"))
    for rel in files:
        for how in ("truncated", "garbage"):
            pk = scratch(F, "pk")
            shutil.copytree(ref, pk)
            data = (pk / rel).read_bytes()
            (pk / rel).write_bytes(data[: len(data) // 2] if how == "truncated" else b"garbage" * 5)
            s.cli(f"packed {how} {rel}", ["evaluate", "--packed", pk, "--out", scratch(F, "ev")])
            s.cli(f"packed {how} {rel}, train", ["train", "--config", smoke, "--data", pk, *tiny, "--out",
                  scratch(F, "tp")], timeout=120)  # fmt: skip


def option_cases(s: Sweep, F):
    g, gt, good = F["g"], F["gt"], F["img"]["good.png"]
    for k in ("0", "-1", "abc", "1e3"):
        s.cli(f"identify --top-k {k}", ["identify", good, "--gallery", g, "--top-k", k])
    s.cli("identify --top-k huge", ["identify", good, "--gallery", g, "--top-k", "1000000000"], OK)
    s.cli(
        "identify --top-k 99999999999999999999",
        ["identify", good, "--gallery", g, "--top-k", "99999999999999999999"],
        ANY,
    )
    for t in ("nan", "inf", "-inf", "abc"):
        s.cli(f"identify --threshold {t}", ["identify", good, "--gallery", g, "--threshold", t])
        s.cli(f"verify --threshold {t}", ["verify", good, good, "--threshold", t])
    for t in ("2", "-2", "1e308"):
        s.cli(f"identify --threshold {t}", ["identify", good, "--gallery", g, "--threshold", t], ANY)
        s.cli(f"verify --threshold {t}", ["verify", good, good, "--threshold", t], ANY)
    for far in ("0", "1", "1.5", "-0.1", "nan", "abc"):
        s.cli(f"calibrate --far {far}", ["gallery", "calibrate", gallery_copy(F, "cal"), "--far", far], ANY)
    s.cli("calibrate one-identity gallery", ["gallery", "calibrate", gallery_copy(F, "cal1", src="g1")], ANY)
    s.cli("identify with other model", ["identify", good, "--gallery", g, "--model", F["tiny"]])
    s.cli("identify tiny gallery, default", ["identify", good, "--gallery", gt], OK)
    s.cli(
        "gallery add with other model",
        ["gallery", "add", gallery_copy(F, "ga"), good, "--identity", "x", "--model", F["tiny"]],
    )
    s.cli("verify --gallery other model", ["verify", good, good, "--gallery", g, "--model", F["tiny"]])
    s.cli("serve with other model", ["serve", "--gallery", g, "--model", F["tiny"], "--port", _free_port()])
    s.cli("--model unknown name", ["identify", good, "--gallery", g, "--model", "no-such-model"])
    txt = F["w"] / "fake.onnx"
    txt.write_text("not onnx")
    s.cli("--model text .onnx", ["embed", good, "--model", txt, "--json"])
    trunc = F["w"] / "trunc.onnx"
    trunc.write_bytes(F["tiny"].read_bytes()[:5000])
    s.cli("--model truncated onnx", ["embed", good, "--model", trunc, "--json"])
    s.cli("--model a .pt checkpoint", ["embed", good, "--model", F["run"] / "checkpoints" / "last.pt", "--json"])
    s.cli("--model the run dir", ["embed", good, "--model", F["run"], "--json"], ANY)
    for port in ("0", "-1", "70000", "abc"):
        s.cli(f"serve --port {port}", ["serve", "--gallery", g, "--port", port], timeout=30)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    s.cli("serve --port in use", ["serve", "--gallery", g, "--port", busy.getsockname()[1]], timeout=30)
    busy.close()
    for opt in ("--max-bytes", "--max-pixels", "--workers", "--threads"):
        s.cli(f"serve {opt} 0", ["serve", "--gallery", g, opt, "0", "--port", _free_port()], timeout=30)
    s.cli("serve --token ''", ["serve", "--gallery", g, "--token", "", "--port", _free_port()], timeout=30)
    s.cli(
        "serve $LRFACE_TOKEN ' '",
        ["serve", "--gallery", g, "--port", _free_port()],
        timeout=30,
        env={"LRFACE_TOKEN": " "},
    )
    s.cli(
        "serve --host bogus",
        ["serve", "--gallery", g, "--host", "no.such.host.invalid", "--port", _free_port()],
        timeout=30,
    )
    s.cli("evaluate no source", ["evaluate", "--out", scratch(F, "ev")])
    s.cli(
        "evaluate --packed and --pairs",
        ["evaluate", "--packed", F["faces"], "--pairs", F["afile"], "--out", scratch(F, "ev")],
    )
    s.cli("evaluate --pairs w/o --images", ["evaluate", "--pairs", F["afile"], "--out", scratch(F, "ev")])
    pairs = F["w"] / "pairs.txt"
    pairs.write_text("10 300\nBob 1 2\nnot a pair line at all\n")
    s.cli("evaluate --pairs garbage", ["evaluate", "--pairs", pairs, "--images", F["faces"], "--out", scratch(F, "ev")])
    s.cli("evaluate --gallery w/o probes", ["evaluate", "--gallery", g, "--out", scratch(F, "ev")])
    s.cli(
        "evaluate --max-rank 0", ["evaluate", "--gallery", g, F["faces"], "--max-rank", "0", "--out", scratch(F, "ev")]
    )
    s.cli("evaluate probes=gallery folder", ["evaluate", "--gallery", g, F["faces"], "--out", scratch(F, "ev")], ANY)
    s.cli("benchmark --seeds a,b", ["benchmark", "--data", F["faces"], "--seeds", "a,b", "--out", scratch(F, "b")])
    s.cli("benchmark --jobs 0", ["benchmark", "--data", F["faces"], "--jobs", "0", "--out", scratch(F, "b")])
    s.cli("benchmark --summarize missing", ["benchmark", "--out", scratch(F, "b"), "--summarize", F["w"] / "nope"])
    s.cli("benchmark --summarize a file", ["benchmark", "--out", scratch(F, "b"), "--summarize", F["afile"]])
    for size in ("0", "4", "1000", "-16"):
        s.cli(f"prepare --size {size}", ["prepare", "folder", F["faces"], "--out", scratch(F, "p"), "--size", size])
    for q in ("-1", "500"):
        s.cli(
            f"prepare --jpeg-quality {q}",
            ["prepare", "folder", F["faces"], "--out", scratch(F, "p"), "--jpeg-quality", q],
        )
    s.cli(
        "prepare --split-fraction 2",
        ["prepare", "folder", F["faces"], "--out", scratch(F, "p"), "--split-fraction", "2"],
    )
    s.cli("prepare --batch-size 0", ["prepare", "folder", F["faces"], "--out", scratch(F, "p"), "--batch-size", "0"])
    s.cli("prepare uccs --protocol x", ["prepare", "uccs", F["faces"], "--out", scratch(F, "p"), "--protocol", "x"])
    s.cli("prepare umdfaces no csv", ["prepare", "umdfaces", F["faces"], "--out", scratch(F, "p")])
    s.cli("no command", [], BAD)
    s.cli("unknown command", ["frobnicate"])
    s.cli("models --json", ["models", "--json"], OK)
    s.cli("models extra arg", ["models", "extra"])


def identity_cases(s: Sweep, F):
    good = F["img"]["good.png"]
    for label, name in (
        ("empty", ""),
        ("slash", "a/b"),
        ("dotdot", ".."),
        ("newline", "a\nb"),
        ("tab", "a\tb"),
        ("spaces", "   "),
        ("NUL-ish", "a\x01b"),
        ("long", "x" * 5000),
        ("unicode", "Zoë 李"),
    ):
        g = gallery_copy(F, "gid")
        s.cli(f"gallery add --identity {label}", ["gallery", "add", g, good, "--identity", name], ANY, lines=1)
        s.cli(f"gallery remove --identity {label}", ["gallery", "remove", gallery_copy(F, "gid2"), "--identity", name])
    g = gallery_copy(F, "gcase")
    s.cli("add 'bob' beside 'Bob'", ["gallery", "add", g, good, "--identity", "bob"], ANY)
    s.cli("remove 'BOB' (case)", ["gallery", "remove", g, "--identity", "BOB"])
    last = gallery_copy(F, "glast", src="g1")
    s.cli("remove the last identity", ["gallery", "remove", last, "--identity", "Bob"], OK)
    s.cli("identify an emptied gallery", ["identify", good, "--gallery", last])
    s.cli("calibrate an emptied gallery", ["gallery", "calibrate", last])
    s.cli("list an emptied gallery", ["gallery", "list", last], OK)
    s.cli("remove unknown identity", ["gallery", "remove", gallery_copy(F, "gu"), "--identity", "Nobody"])
    cased = scratch(F, "cased")
    _write_folder(cased, ["Ann", "ann", "ANN"], 3, 2)
    s.cli("build with Ann/ann/ANN", ["gallery", "build", cased, "--out", scratch(F, "gcased")], ANY)
    odd = scratch(F, "oddnames")
    _write_folder(odd, ["new\nline", " lead", ".hidden", "tab\tname"], 4, 2)
    s.cli("build with odd folder names", ["gallery", "build", odd, "--out", scratch(F, "godd")], ANY)
    s.cli(
        "add image twice (duplicate)",
        ["gallery", "add", gallery_copy(F, "gdup"), F["faces"] / "Bob" / "0000.png", "--identity", "Bob"],
        OK,
    )
    s.cli("add a non-image file", ["gallery", "add", gallery_copy(F, "gni"), F["afile"], "--identity", "x"])
    s.cli("add --identity no paths", ["gallery", "add", gallery_copy(F, "gnp"), "--identity", "x"])


def damage_cases(s: Sweep, F):
    good = F["img"]["good.png"]
    files = sorted(p.relative_to(F["g"]) for p in F["g"].rglob("*") if p.is_file())
    for rel in files:
        g = gallery_copy(F, "gdmg")
        (g / rel).unlink()
        s.cli(f"gallery minus {rel}", ["identify", good, "--gallery", g], ANY)
        g = gallery_copy(F, "gdmg")
        (g / rel).write_bytes((g / rel).read_bytes()[: max(1, (g / rel).stat().st_size // 2)])
        s.cli(f"gallery truncated {rel}", ["identify", good, "--gallery", g], ANY)
        g = gallery_copy(F, "gdmg")
        (g / rel).write_bytes(b"garbage" * 10)
        s.cli(f"gallery garbage {rel}", ["gallery", "list", g], ANY)
        g = gallery_copy(F, "gdmg")
        (g / rel).write_bytes(b"")
        s.cli(f"gallery empty {rel}", ["gallery", "add", g, good, "--identity", "x"], ANY)


def config_cases(s: Sweep, F):
    smoke = REPO / "configs/face/orl-smoke.yaml"
    tiny = ["--set", "strategy=student-only", "student.arch=resnet_tiny", "train.threads=1"]
    base = ["train", "--config", smoke, "--data", F["faces"], *tiny]
    texts = {
        "empty file": "",
        "a list": "- 1\n- 2\n",
        "a string": "hello\n",
        "bad yaml": "train: {epochs: [\n",
        "wrong type": "train:\n  epochs: many\n",
        "unknown key": "train:\n  epochz: 1\n",
        "unknown section": "bogus:\n  x: 1\n",
        "huge epochs": "train:\n  epochs: 1e308\n",
        "negative lr": "optim:\n  lr: -1\n",
        "nan lr": "optim:\n  lr: .nan\n",
        "section a scalar": "train: 5\n",
        "binary": "\x00\x01\x02\xff",
        "bool epochs": "train:\n  epochs: true\n",
        "a section twice": "train:\n  epochs: 1\noptim:\n  lr: 0.1\ntrain:\n  seed: 3\n",
        "a key twice": "train:\n  epochs: 1\n  epochs: 2\n",
        "epochs 0": "train:\n  epochs: 0\n",
        "batch 0": "train:\n  batch_size: 0\n",
        "unknown arch": "student:\n  arch: nonet\n",
        "unknown strategy": "strategy: magic\n",
        "unknown teacher arch": "teacher:\n  arch: nonet\n",
        "kwargs not a map": "student:\n  kwargs: 5\n",
        "milestones a string": "optim:\n  milestones: soon\n",
    }
    for label, text in texts.items():
        cfg = F["w"] / "cfg" / f"{label.replace(' ', '_')}.yaml"
        cfg.parent.mkdir(exist_ok=True)
        cfg.write_bytes(text.encode("latin-1"))
        out = scratch(F, "trc")
        argv = ["train", "--config", cfg, "--data", F["faces"], "--out", out]
        if label == "empty file":  # an empty config is the defaults: fine, if it trains the tiny model
            s.cli(f"config {label}", argv + tiny + ["train.epochs=1"], ANY, timeout=120)
        else:  # fails before training, so the default (large) model never starts
            s.cli(f"config {label}", argv, timeout=60, check=absent(out / "checkpoints"))
    for label, kv in (
        ("--set no =", "trainepochs"),
        ("--set unknown key", "train.epochz=1"),
        ("--set wrong type", "train.epochs=x"),
        ("--set negative", "train.epochs=-3"),
        ("--set nan", "optim.lr=nan"),
        ("--set unknown arch", "student.arch=nonet"),
        ("--set bad json", "student.kwargs={bad"),
        ("--set batch over the data", "train.batch_size=99999999999999999999"),
        ("--set kwargs the model lacks", "student.kwargs={bogus: 1}"),
        ("--set epochs a list", "train.epochs=[1,2]"),
    ):
        out = scratch(F, "trs")
        if label == "--set batch over the data":  # a batch larger than the set is the whole set: fine
            s.cli(f"train {label}", base + [kv, "train.epochs=1", "--out", out], ANY, timeout=120)
        else:
            s.cli(f"train {label}", base + [kv, "--out", out], timeout=60, check=absent(out / "checkpoints"))
    s.cli("train --resume no last.pt", ["train", "--resume", F["empty"]])
    run = scratch(F, "run-trunc")
    shutil.copytree(F["run"], run)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    s.cli("train --resume truncated last.pt", ["train", "--resume", run])
    best = run / "checkpoints" / "best.pt"
    if best.exists():
        best.write_bytes(best.read_bytes()[:1000])
    s.cli("export truncated checkpoint", ["export", "--onnx", run, "--out", scratch(F, "x.onnx")])
    s.cli(
        "train --resume and --config",
        ["train", "--resume", F["run"], "--config", REPO / "configs/face/orl-smoke.yaml"],
        ANY,
        timeout=60,
    )
    out = scratch(F, "trk")
    s.cli("train --out after a failed start", base + ["student.kwargs={bogus: 1}", "--out", out])
    s.cli("train --out after a failed start", base + ["train.epochs=1", "--out", out], OK, timeout=120)
    s.cli("train --out existing run", base + ["train.epochs=1", "--out", F["run"]])


def interrupt_cases(s: Sweep, F):
    """Kill `gallery build --force` / `gallery add` / `embed --out` at 15-90 % of their uninterrupted time:
    the old gallery generation (or the new, complete one) must still open whole, nothing half-written."""
    if not s.wanted("interrupt"):
        return

    def timed(argv):
        t = time.time()
        subprocess.run([PY, "-m", "lrface", *map(str, argv)], env=ENV, capture_output=True, check=True)
        return time.time() - t

    def killed(case, argv, g, sig, at, n_old, n_new, out=None):
        p = subprocess.Popen(
            [PY, "-m", "lrface", *map(str, argv)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(at)
        p.send_signal(sig)
        _, err = p.communicate()
        lines = [e for e in err.splitlines() if e.strip() and not e.startswith(("embedding ", "warning"))]
        why = "traceback" if "Traceback" in err else ""
        if sig == signal.SIGINT and not why and p.returncode not in (0, 130):
            why = f"exit {p.returncode} on Ctrl-C"
        if sig == signal.SIGINT and not why and len(lines) > 1:
            why = f"{len(lines)} lines on Ctrl-C"
        if g is not None:
            why = why or gallery_opens(g, n_new if p.returncode == 0 else n_old)() or no_temp_files(g)()
        if out is not None and p.returncode != 0 and out.exists():
            why = why or f"{out} half-written"
        if out is not None:
            why = why or no_temp_files(out)()
        s.record(case, f"killed at {at:.1f} s", p.returncode, (lines or [""])[-1], why)

    g = gallery_copy(F, "gint")
    full = timed(["gallery", "build", F["big"], "--out", g, "--force"])
    for sig, fracs in ((signal.SIGKILL, (0.15, 0.4, 0.7, 0.9)), (signal.SIGINT, (0.3, 0.8))):
        for frac in fracs:
            g = gallery_copy(F, "gint")
            argv = ["gallery", "build", F["big"], "--out", g, "--force"]
            killed(f"interrupt build {sig.name} {frac:.0%}", argv, g, sig, frac * full, 6, BIG_IDS)
    g = gallery_copy(F, "gint")
    full = timed(["gallery", "add", g, F["big"]])
    for sig, frac in ((signal.SIGKILL, 0.3), (signal.SIGKILL, 0.8), (signal.SIGINT, 0.6)):
        g = gallery_copy(F, "gint")
        killed(
            f"interrupt add {sig.name} {frac:.0%}", ["gallery", "add", g, F["big"]], g, sig, frac * full, 6, 6 + BIG_IDS
        )
    ref = scratch(F, "prep-ref")
    prep = ["prepare", "folder", F["big"], "--no-detect-fallback", "box", "--out"]
    full = timed(prep + [ref])
    for frac in (0.3, 0.6, 0.9):
        out = scratch(F, "prep-kill")
        killed(f"interrupt prepare SIGKILL {frac:.0%}", prep + [out], None, signal.SIGKILL, frac * full, 0, 0)
        p = subprocess.run([PY, "-m", "lrface", *map(str, prep + [out])], env=ENV, capture_output=True, text=True)
        same = p.returncode == 0 and _packed_summary(out) == _packed_summary(ref)
        why = "" if same else f"resume: exit {p.returncode}, {p.stderr.strip()[-100:]} / sets differ"
        s.record(
            f"resume prepare after {frac:.0%}", "prepare again, same --out", p.returncode, p.stdout.strip()[-90:], why
        )
    g = gallery_copy(F, "gconc")  # two CLI writers at once: both identities land, the gallery stays whole
    trees = []
    for k in range(2):
        t = scratch(F, f"conc{k}")
        for i in range(40):
            shutil.copytree(F["big"] / f"p{k * 40 + i:03d}", t / f"c{k}-{i:02d}")
        trees.append(t)
    procs = [subprocess.Popen([PY, "-m", "lrface", "gallery", "add", str(g), str(t)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for t in trees]  # fmt: skip
    codes = [p.wait() for p in procs]
    why = "" if codes == [0, 0] else f"exit codes {codes}: {procs[0].stderr.read()[-100:]}"
    s.record("two gallery adds at once", "gallery add x 2, concurrently", codes, "", why or gallery_opens(g, 86)())
    out = scratch(F, "emb-kill.npy")
    full = timed(["embed", F["big"], "--out", out])
    for frac in (0.5, 0.9):
        out = scratch(F, "emb-kill.npy")
        killed(
            f"interrupt embed SIGKILL {frac:.0%}",
            ["embed", F["big"], "--out", out],
            None,
            signal.SIGKILL,
            frac * full,
            0,
            0,
            out,
        )


def _packed_summary(root: Path):
    """A packed set's class names and per-split image arrays (hashes), to compare a resumed set with a fresh one."""
    import hashlib

    try:
        m = json.loads((root / "manifest.json").read_text())
        arrays = sorted(
            (p.relative_to(root).as_posix(), hashlib.sha256(np.load(p).tobytes()).hexdigest())
            for p in root.rglob("*.npy")
        )
    except (OSError, ValueError):
        return None
    return m["class_names"], arrays


def api_cases(s: Sweep, F):
    from lrface import Gallery, Recognizer

    good, imgs = F["img"]["good.png"], F["img"]
    rec = Recognizer()
    s.api("api Recognizer(missing)", lambda: Recognizer(F["w"] / "nope.onnx"))
    s.api("api Recognizer(dir)", lambda: Recognizer(F["empty"]))
    s.api("api Recognizer(text)", lambda: Recognizer(F["w"] / "fake.onnx"))
    s.api("api Recognizer(123)", lambda: Recognizer(123))
    s.api("api Recognizer(threads=-1)", lambda: Recognizer(threads=-1))
    for label, img in (
        ("missing path", imgs["missing.png"]),
        ("zero bytes", b""),
        ("text bytes", b"hello"),
        ("empty array", np.zeros((0, 0, 3), np.uint8)),
        ("float array", np.zeros((16, 16, 3))),
        ("2-D float array", np.zeros((16, 16))),
        ("4-channel", np.zeros((16, 16, 4), np.uint8)),
        ("5-D array", np.zeros((1, 2, 16, 16, 3), np.uint8)),
        ("int64 array", np.zeros((16, 16, 3), np.int64)),
        ("None", None),
        ("int", 7),
        ("dir", F["empty"]),
        ("1x1 array", np.zeros((1, 1, 3), np.uint8)),
        ("nan float array", np.full((16, 16, 3), np.nan, np.float32)),
        ("bomb", imgs["bomb.png"]),
    ):
        s.api(f"api embed {label}", lambda img=img: rec.embed(img))
    s.api("api embed []", lambda: rec.embed([]), ANY)
    s.api("api embed grey uint8 2-D", lambda: rec.embed(np.full((32, 32), 128, np.uint8)), ANY)
    s.api("api verify threshold nan", lambda: rec.verify(good, good, threshold=float("nan")))
    s.api("api verify threshold 'x'", lambda: rec.verify(good, good, threshold="x"))
    s.api("api Gallery.open(missing)", lambda: Gallery.open(F["w"] / "nope"))
    s.api("api Gallery.open(file)", lambda: Gallery.open(F["afile"]))
    s.api("api Gallery.create(existing)", lambda: Gallery.create(F["g"], rec))
    gal = Gallery.create(scratch(F, "api-g"), rec)
    s.api("api add good", lambda: gal.add("Ann", [good]), ANY)
    s.api("api add empty name", lambda: gal.add("", [good]))
    s.api("api add name None", lambda: gal.add(None, [good]))
    s.api("api add no images", lambda: gal.add("x", []))
    s.api("api add a str not a list", lambda: gal.add("y", str(good)), ANY)
    s.api("api add bad image", lambda: gal.add("z", [b"junk"]))
    s.api("api remove unknown", lambda: gal.remove("Nobody"))
    s.api("api calibrate far 2", lambda: gal.calibrate(far=2))
    s.api("api calibrate far nan", lambda: gal.calibrate(far=float("nan")))
    s.api("api calibrate 1 identity", lambda: gal.calibrate(), ANY)
    s.api("api identify top_k 0", lambda: rec.identify([good], gal, top_k=0))
    s.api("api identify top_k -1", lambda: rec.identify([good], gal, top_k=-1))
    s.api("api identify top_k 1.5", lambda: rec.identify([good], gal, top_k=1.5))
    s.api("api identify threshold inf", lambda: rec.identify([good], gal, threshold=float("inf")))
    s.api("api identify gallery=str missing", lambda: rec.identify([good], str(F["w"] / "nope")))
    s.api("api identify other model", lambda: Recognizer(F["tiny"]).identify([good], Gallery.open(F["g"])))
    s.api("api create template 'median'", lambda: Gallery.create(scratch(F, "api-t"), rec, template="median"))
    s.api("api create index 'lsh'", lambda: Gallery.create(scratch(F, "api-i"), rec, index="lsh"))
    s.api("api create below a file", lambda: Gallery.create(F["afile"] / "g", rec))
    s.api("api create in a non-empty dir", lambda: Gallery.create(F["faces"], rec))
    s.api("api calibrate far '0.1'", lambda: gal.calibrate(far="0.1"), ANY)
    s.api("api identify []", lambda: rec.identify([], gal))
    s.api("api verify uncalibrated gallery", lambda: rec.verify(good, good, gallery=gal))
    s.api("api verify tiny model, no threshold", lambda: Recognizer(F["tiny"]).verify(good, good))
    s.api("api add a list of None", lambda: gal.add("w", [None]))
    s.api("api Gallery.open(123)", lambda: Gallery.open(123))
    gone = Gallery.create(scratch(F, "api-gone"), rec)
    gone.add("Ann", [good])
    shutil.rmtree(gone.path)
    s.api("api identities of a deleted gallery", lambda: gone.identities(), ANY)
    s.api("api identify a deleted gallery", lambda: rec.identify([good], gone), ANY)
    s.api("api add to a deleted gallery", lambda: gone.add("Bob", [imgs["good.jpg"]]))
    s.api("api remove from a deleted gallery", lambda: gone.remove("Ann"))
    s.api("api identify empty gallery", lambda: rec.identify([good], Gallery.create(scratch(F, "api-empty"), rec)), ANY)


def _free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


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
    port = _free_port()
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
        ):
            exp = (200, 200) if q in ("top_k=1000000000", "threshold=2") else (400, 499)
            post(f"http identify ?{q}", f"/identify?{q}", [("image", "a.png", good)], expect=exp)
        post("http identify top_k form field", "/identify", [("image", "a.png", good), ("top_k", "", b"zero")])
        post("http verify missing b", "/verify", [("a", "a.png", good)])
        post("http verify threshold inf", "/verify?threshold=inf", [("a", "a.png", good), ("b", "b.png", good)])
        post("http enrol no token", "/identities/Eve", [("image", "a.png", good)])
        post("http enrol bad token", "/identities/Eve", [("image", "a.png", good)], {"Authorization": "Bearer nope"})
        post("http enrol non-ascii token", "/identities/Eve", [("image", "a.png", good)], {"Authorization": "Bearer é"})
        post("http enrol 17 images", "/identities/Eve", [("image", f"{i}.png", good) for i in range(17)], auth)
        post("http enrol bad image", "/identities/Eve", [("image", "a.png", b"junk")], auth)
        post("http enrol name with space", "/identities/Eve%20Ng", [("image", "a.png", good)], auth, expect=(200, 200))
        post("http enrol name %0A", "/identities/a%0Ab", [("image", "a.png", good)], auth, expect=(200, 499))
        post("http enrol name %2F", "/identities/a%2Fb", [("image", "a.png", good)], auth, expect=(200, 499))
        post("http enrol name long", "/identities/" + "x" * 3000, [("image", "a.png", good)], auth, expect=(200, 499))
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

            new = cv2.imencode(".png", np.ascontiguousarray(_faces(1, 1, seed=9)[0][1]))[1].tobytes()
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
        (g / "gallery.json").unlink()  # the gallery damaged under the running service: JSON, never a traceback
        s.http("http gallery pointer deleted", port, "GET", "/health", expect=(200, 503))
        post("http identify, pointer deleted", "/identify", [("image", "a.png", good)], expect=(200, 503))
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/lrface-faults", help="fixtures and scratch outputs (reused)")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--fail-only", action="store_true", help="list only the failing cases at the end")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = Path(a.work)
    t0 = time.time()
    F = fixtures(work)
    print(f"fixtures ready in {time.time() - t0:.0f} s under {work}")
    s = Sweep(work, a.only)
    for group in (
        image_cases,
        special_file_cases,
        run_dir_cases,
        mixed_folder_cases,
        packed_cases,
        path_cases,
        option_cases,
        identity_cases,
        damage_cases,
        config_cases,
        api_cases,
        http_cases,
        interrupt_cases,
    ):
        group(s, F)
    fails = [r for r in s.rows if not r.ok]
    print(f"\n{'case':36} {'code':>6}  first line / failure")
    for r in fails if a.fail_only else s.rows:
        print(f"{r.case[:36]:36} {r.code:>6}  {'FAIL ' + r.why + ': ' if not r.ok else ''}{r.first[:100]}")
    print(f"\n{len(s.rows)} cases, {len(fails)} FAIL, {time.time() - t0:.0f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
