"""Sweep fixtures: generated faces, broken images, a tiny run, galleries, scratch paths and output checks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np

from .runner import ENV, PY, REPO

BIG_IDS = 400  # identities x 10 images in the folder that interrupted builds and adds work on


def faces(n_ids, per_id, size=32, seed=0):
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


def write_folder(root: Path, names, n_ids, per_id, seed=0):
    from PIL import Image

    for i, im in faces(n_ids, per_id, seed=seed):
        d = root / names[i]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{len(list(d.iterdir())):04d}.png")
    return root


def run_lrface(*args, **kw):
    p = subprocess.run([PY, "-m", "lrface", *map(str, args)], env=ENV, capture_output=True, text=True, **kw)
    if p.returncode:
        raise SystemExit(f"fixture step failed: lrface {' '.join(map(str, args))}\n{p.stderr}")
    return p


def bad_images(d: Path) -> dict[str, Path]:
    """Every kind of broken or unusual image file, by name."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    face = faces(1, 1, size=32)[0][1]
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
        write_folder(F["faces"], names, 6, 6)
    F["big"] = work / "big"  # enough images that a build can be killed half-way
    if not F["big"].exists():
        write_folder(F["big"], [f"p{i:03d}" for i in range(BIG_IDS)], BIG_IDS, 10, seed=1)
    F["run"] = work / "run"
    if not (F["run"] / "export" / "student.onnx").exists():
        shutil.rmtree(F["run"], ignore_errors=True)
        run_lrface(
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
        run_lrface("export", "--onnx", F["run"])
    F["tiny"] = F["run"] / "export" / "student.onnx"
    F["g"] = work / "g"  # packaged default model
    F["g1"] = work / "g1"  # one identity
    stale_default(work, [F["g"], F["g1"]])
    if not F["g"].exists():
        run_lrface("gallery", "build", F["faces"], "--out", F["g"])
        run_lrface("gallery", "calibrate", F["g"])
    F["gt"] = work / "gt"  # the tiny model
    if not F["gt"].exists():
        run_lrface("gallery", "build", F["faces"], "--out", F["gt"], "--model", F["tiny"])
    if not F["g1"].exists():
        shutil.copytree(F["faces"] / "Bob", work / "one-id" / "Bob", dirs_exist_ok=True)
        run_lrface("gallery", "build", work / "one-id", "--out", F["g1"])
    F["img"] = bad_images(work / "img")
    F["afile"] = work / "afile.txt"
    F["afile"].write_text("a plain file\n")
    F["empty"] = work / "emptydir"
    F["empty"].mkdir(exist_ok=True)
    return F


def stale_default(work: Path, galleries: list[Path]) -> None:
    """Remove the reused galleries of the packaged default when the default changed since they were built (a
    case that rebuilds one "with the served model" would otherwise serve one model and rebuild with another)."""
    from lrface.pretrained import resolve_model

    mark, name = work / "g.default", resolve_model(None).name
    if mark.exists() and mark.read_text() == name:
        return
    for g in galleries:
        shutil.rmtree(g, ignore_errors=True)
    mark.write_text(name)


def scratch(F, name: str) -> Path:
    """A fresh path under work/scratch for one case (also without a temporary file an earlier sweep's kill left
    beside it, which the case's own no_temp_files check would report)."""
    p = F["w"] / "scratch" / name
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    for tmp in p.parent.glob(f".{name}.*.tmp"):
        tmp.unlink()
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


def gallery_opens(g: Path, *identities: int):
    """A check: the gallery opens and holds one of the ``identities`` counts."""

    def check():
        p = subprocess.run(
            [PY, "-m", "lrface", "gallery", "list", str(g), "--json"], env=ENV, capture_output=True, text=True
        )
        if p.returncode:
            return f"gallery no longer opens: {p.stderr.strip()[:80]}"
        n = len(json.loads(p.stdout)["identities"])
        return "" if n in identities else f"gallery has {n} identities, expected {' or '.join(map(str, identities))}"

    return check


def free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]
