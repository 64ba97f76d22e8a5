"""Sweep cases on runs and options: damaged run dirs and plans, option values, identity names, damaged
galleries."""

from __future__ import annotations

import os
import shutil
import socket

from .fixtures import free_port, gallery_copy, scratch, write_folder
from .runner import ANY, BAD, OK, REPO, Sweep


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
    for item in ("train.seed=99", "train.select_on=teacher", "train.per_identity=1"):  # refused before any work
        s.cli(f"train --resume --set {item}", ["train", "--resume", F["run"], "--set", item])


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
    for extra in (["--draw", F["w"] / "d.jpg"], ["--min-face", "12"], ["--all-faces", "--every", "2"],
                  ["--all-faces", "--frame-rate", "30"]):  # fmt: skip
        s.cli(f"identify {extra[-2]} where unused", ["identify", good, "--gallery", g, *extra])
    s.cli("identify tiny gallery, default", ["identify", good, "--gallery", gt], OK)
    s.cli(
        "gallery add with other model",
        ["gallery", "add", gallery_copy(F, "ga"), good, "--identity", "x", "--model", F["tiny"]],
    )
    s.cli("verify --gallery other model", ["verify", good, good, "--gallery", g, "--model", F["tiny"]])
    s.cli("serve with other model", ["serve", "--gallery", g, "--model", F["tiny"], "--port", free_port()])
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
        s.cli(f"serve {opt} 0", ["serve", "--gallery", g, opt, "0", "--port", free_port()], timeout=30)
    s.cli("serve --token ''", ["serve", "--gallery", g, "--token", "", "--port", free_port()], timeout=30)
    s.cli(
        "serve $LRFACE_TOKEN ' '",
        ["serve", "--gallery", g, "--port", free_port()],
        timeout=30,
        env={"LRFACE_TOKEN": " "},
    )
    s.cli(
        "serve --host bogus",
        ["serve", "--gallery", g, "--host", "no.such.host.invalid", "--port", free_port()],
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
        expect = BAD if label == "long" else ANY  # over 255 characters: refused
        s.cli(f"gallery add --identity {label}", ["gallery", "add", g, good, "--identity", name], expect, lines=1)
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
    write_folder(cased, ["Ann", "ann", "ANN"], 3, 2)
    s.cli("build with Ann/ann/ANN", ["gallery", "build", cased, "--out", scratch(F, "gcased")], ANY)
    odd = scratch(F, "oddnames")
    write_folder(odd, ["new\nline", " lead", ".hidden", "tab\tname"], 4, 2)
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
