"""Sweep cases on training: bad configs and --set values, embed_kd models, damaged or misused resumes."""

from __future__ import annotations

import shutil

from .fixtures import absent, scratch
from .runner import ANY, OK, REPO, Sweep


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
        "milestones a fraction": "optim:\n  milestones: [1.5]\n",
        "milestones descending": "optim:\n  milestones: [50, 36]\n",
        "brightness over 1": "augment:\n  brightness_contrast: 5\n",
        "scale 2": "augment:\n  scale: 2\n",
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
        ("--set kwargs value the model refuses", "student.kwargs={last_stride: 3}"),
        ("--set epochs a list", "train.epochs=[1,2]"),
        ("--set a whole section {}", "train={}"),
        ("--set a whole section", "optim={lr: 0.1}"),
        ("--set ema_decay 1", "train.ema_decay=1"),
        ("--set select_on student_ema without ema", "train.select_on=student_ema"),
        ("--set per_identity 1", "train.per_identity=1"),
        ("--set per_identity over half the batch", "train.per_identity=100000"),
        ("--set embed_kd.memory without the student's term", "embed_kd.memory=64"),
    ):
        out = scratch(F, "trs")
        if label == "--set batch over the data":  # a batch larger than the set is the whole set: fine
            s.cli(f"train {label}", base + [kv, "train.epochs=1", "--out", out], ANY, timeout=120)
        else:
            s.cli(f"train {label}", base + [kv, "--out", out], timeout=60, check=absent(out / "checkpoints"))
    out = scratch(F, "trs")
    argv = base + ["strategy=teacher-only", "train.ema_decay=0.9", "--out", out]
    s.cli("train --set ema on a teacher-only run", argv, timeout=60, check=absent(out / "checkpoints"))
    for label, kvs in (
        ("loss.spread negative", ["loss.spread=-1"]),
        ("loss.spread on a teacher-only run", ["strategy=teacher-only", "loss.spread=1"]),
        ("loss.supcon without identity batches", ["loss.supcon=1"]),
        ("loss.supcon at tau 0", ["loss.supcon=1", "train.per_identity=2", "loss.supcon_tau=0"]),
        ("loss.supcon on a teacher-only run", ["strategy=teacher-only", "loss.supcon=1", "train.per_identity=2"]),
        ("optim.schedule unknown", ["optim.schedule=linear"]),
        ("optim.schedule cosine with teacher lr steps", ["optim.schedule=cosine", "optim.teacher_milestones=[3]"]),
    ):
        out = scratch(F, "trs")
        s.cli(f"train --set {label}", base + [*kvs, "--out", out], timeout=60, check=absent(out / "checkpoints"))
    out = scratch(F, "trs")  # the tiny student's strided 1x1 shortcut has 4 input channels: oneDNN trains it wrongly
    argv = base + ["train.channels_last=on", "train.device=cpu", "--out", out]
    s.cli("train --set channels_last where oneDNN trains a layer wrongly", argv, timeout=60, check=absent(out))
    weight = ["embed_kd.weight=1"]
    for label, terms, model in (
        ("embed_kd.weight without a model", weight, ""),
        ("embed_kd.point without a model", ["embed_kd.point=1"], ""),
        ("embed_kd.model missing", weight, "no-such.onnx"),
        ("embed_kd.model missing, teacher term alone", ["strategy=ekd", "embed_kd.teacher_weight=1"], "no-such.onnx"),
        ("embed_kd.model a text file", weight, F["afile"]),
        ("embed_kd.model a .pt checkpoint", weight, F["run"] / "checkpoints" / "last.pt"),
    ):
        out = scratch(F, "trs")
        argv = base + [*terms, *([f"embed_kd.model={model}"] if model else []), "--out", out]
        s.cli(f"train --set {label}", argv, timeout=60, check=absent(out))
    out = scratch(F, "trs")
    argv = base + ["embed_kd.weight=1", "embed_kd.model=sr18-celeba-x2hs-emb90", "preprocess.mean=[0.4,0.4,0.4]"]
    s.cli("train --set embed_kd.model of other preprocessing", argv + ["--out", out], timeout=60, check=absent(out))
    model = ["embed_kd.weight=1", "embed_kd.model=sr18-celeba-x2hs-emb90"]
    for label, value in (
        ("embed_kd.unlabeled missing", "[/no/such/set]"),
        ("embed_kd.unlabeled a text file", f"[{F['afile']}]"),
        ("embed_kd.unlabeled an empty entry", "['']"),
    ):
        out = scratch(F, "trs")
        argv = base + [*model, f"embed_kd.unlabeled={value}", "--out", out]
        s.cli(f"train --set {label}", argv, timeout=60, check=absent(out))
    out = scratch(F, "trs")
    argv = base + ["embed_kd.unlabeled=[x]", "--out", out]
    s.cli("train --set embed_kd.unlabeled without a student term", argv, timeout=60, check=absent(out))
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
