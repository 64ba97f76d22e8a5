"""Sweep cases on input files: broken images, missing or wrong paths, pipes and devices, mixed folders,
packed sets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .fixtures import absent, free_port, gallery_copy, run_lrface, scratch
from .runner import ANY, BAD, OK, REPO, Sweep


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
        s.cli(f"serve --gallery {what}", ["serve", "--gallery", p, "--port", free_port()])
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
    s.cli("gallery build --out a folder of photos", ["gallery", "build", F["faces"], "--out", imgs["good.png"].parent])
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
    s.cli("export --ema of a run without one", ["export", "--onnx", F["run"], "--ema", "--out", scratch(F, "e.onnx")])
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
    stdout_cases(s, F)


def stdout_cases(s: Sweep, F):
    """stdout that cannot take the output, unbuffered and block-buffered (PYTHONUNBUFFERED set or not): a full disk
    is one line and exit 2; a reader that stopped reading (a closed pipe) is quiet, status 141 (128 + SIGPIPE)."""
    g, good = F["g"], F["img"]["good.png"]
    commands = {  # argv, stderr lines of a failure (identify names its threshold first)
        "models": (["models"], 1),
        "embed --json": (["embed", good, "--json"], 1),
        "identify": (["identify", good, "--gallery", g], 2),
        "verify": (["verify", good, good, "--gallery", g], 1),
    }
    for buffering, env in (("unbuffered", {"PYTHONUNBUFFERED": "1"}), ("buffered", {"PYTHONUNBUFFERED": ""})):
        for label, (argv, lines) in commands.items():
            if os.path.exists("/dev/full"):
                with open("/dev/full", "w") as full:
                    s.cli(f"{label} > /dev/full, {buffering}", argv, BAD, 60, lines=lines, env=env, stdout=full)
            read, write = os.pipe()
            os.close(read)  # the reader has gone before the first line
            try:
                s.cli(f"{label} | closed, {buffering}", argv, 141, 60, env=env, stdout=write)
            finally:
                os.close(write)


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
        run_lrface(
            "prepare", "folder", F["faces"], "--out", ref, "--no-detect-fallback", "box", "--split-fraction", "0.3"
        )
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
