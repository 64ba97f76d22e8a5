"""Sweep cases on runs and options: damaged run dirs and plans, option values, identity names, damaged
galleries, configs."""

from __future__ import annotations

import os
import shutil
import socket

from .fixtures import absent, free_port, gallery_copy, scratch, write_folder
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
        "shift share over 1": "augment:\n  shift_p: 1.5\n",
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
        ("--set a whole section {}", "train={}"),
        ("--set a whole section", "optim={lr: 0.1}"),
        ("--set ema_decay 1", "train.ema_decay=1"),
        ("--set select_on student_ema without ema", "train.select_on=student_ema"),
    ):
        out = scratch(F, "trs")
        if label == "--set batch over the data":  # a batch larger than the set is the whole set: fine
            s.cli(f"train {label}", base + [kv, "train.epochs=1", "--out", out], ANY, timeout=120)
        else:
            s.cli(f"train {label}", base + [kv, "--out", out], timeout=60, check=absent(out / "checkpoints"))
    out = scratch(F, "trs")
    argv = base + ["strategy=teacher-only", "train.ema_decay=0.9", "--out", out]
    s.cli("train --set ema on a teacher-only run", argv, timeout=60, check=absent(out / "checkpoints"))
    for label, model in (
        ("embed_kd.weight without a model", ""),
        ("embed_kd.model missing", "no-such.onnx"),
        ("embed_kd.model a text file", F["afile"]),
        ("embed_kd.model a .pt checkpoint", F["run"] / "checkpoints" / "last.pt"),
    ):
        out = scratch(F, "trs")
        argv = base + ["embed_kd.weight=1", *([f"embed_kd.model={model}"] if model else []), "--out", out]
        s.cli(f"train --set {label}", argv, timeout=60, check=absent(out))
    out = scratch(F, "trs")
    argv = base + ["embed_kd.weight=1", "embed_kd.model=sr18-celeba-x2hs-emb90", "preprocess.mean=[0.4,0.4,0.4]"]
    s.cli("train --set embed_kd.model of other preprocessing", argv + ["--out", out], timeout=60, check=absent(out))
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
