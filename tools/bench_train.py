"""Training-step throughput: teacher-only, student-only and EKD steps on synthetic 16x16 batches.

Prints img/s per step kind and batch size, the ratio t(EKD) / (t(teacher) + t(student)) and the
share of an EKD step spent in guided modules (EKD step minus the same step with guided.count=0).
Goals (issue 2): ratio <= 1.05, guided share <= 8 %. With --switches, also the EKD step with each
named speed switch on, beside the step with all of them off, in one table with the ratio to "off"
(issues 6 and 21; lrface/engine/speed.py). ``--with-data`` times what the training loop does per
step: the batch drawn and augmented as the configured backend does it, then the step.

    python tools/bench_train.py --config configs/face/uccs-r50-sr18-ekd.yaml --batch-sizes 64 256
    python tools/bench_train.py --device cuda --batch-sizes 256 1024 --switches bf16,channels_last,fused_sgd,fast,all
    python tools/bench_train.py --config configs/face/packaged-student.yaml --classes 565 --batch-sizes 64 \
        --no-table --with-data --steps 20 --warmup 3 --switches threads2,channels_last,bf16,prefetch,speed
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

from lrface.config import load_config
from lrface.data.sources import DataBundle
from lrface.engine.batches import train_batches
from lrface.engine.speed import prefetched
from lrface.engine.trainer import Trainer
from lrface.fileio import atomic_write_json

FAST = ["train.amp=bf16", "train.channels_last=on", "train.fused_sgd=on"]
SPEED = ["train.amp=bf16", "train.channels_last=on", "train.prefetch=2"]  # the CPU choice, docs/train-speed.md
SWITCHES = {
    "bf16": ["train.amp=bf16"],
    "channels_last": ["train.channels_last=on"],
    "compile": ["train.compile=on"],
    "fused_sgd": ["train.fused_sgd=on"],
    "threads2": ["train.threads=2"],
    "prefetch": ["train.prefetch=2"],
    "torch_aug": ["augment.backend=torch"],
    "batch128": ["train.batch_size=128", "optim.lr=0.2"],  # lr scaled linearly with the batch
    "fast": FAST,
    "all": [*FAST, "train.compile=on"],
    "speed": SPEED,
    "speed+threads2": [*SPEED, "train.threads=2"],
    "speed+compile": [*SPEED, "train.compile=on"],
}


def time_step(cfg, classes: int, batch: int, steps: int, warmup: int, tmp: str) -> float:
    """Seconds per training step (median over ``steps``) for ``cfg`` on a random batch."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (batch, cfg.data.image_size, cfg.data.image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, classes, batch)
    data = DataBundle([str(i) for i in range(classes)], {"train": (images, labels), "test": (images, labels)})
    tr = Trainer(cfg, data, tmp)
    x = tr.to_input(images)
    y = torch.from_numpy(labels).to(tr.device)
    for m in tr.streams.values():
        m.train()
    times = []
    for i in range(warmup + steps):
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        tr.train_step({"teacher": x, "student": x}, y)
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_loop(cfg, classes: int, steps: int, warmup: int, tmp: str) -> float:
    """Seconds per training-loop step (median): the next batch drawn and augmented, then the step."""
    bs = cfg.train.batch_size
    rng = np.random.default_rng(0)
    n = bs * (warmup + steps)
    images = rng.integers(0, 255, (n, cfg.data.image_size, cfg.data.image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, classes, n)
    data = DataBundle([str(i) for i in range(classes)], {"train": (images, labels), "test": (images, labels)})
    tr = Trainer(cfg, data, tmp)
    for m in tr.streams.values():
        m.train()
    batches = prefetched(train_batches(tr, 1), cfg.train.prefetch)
    times, t0 = [], time.perf_counter()
    for i, (x_t, x_s, y, idx) in enumerate(batches):
        tr.train_step({"teacher": x_t, "student": x_s}, y, idx)
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append(t1 - t0)
        t0 = t1
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/face/uccs-r50-sr18-ekd.yaml")
    ap.add_argument("--classes", type=int, default=180)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument(
        "--switches",
        default="",
        metavar="NAME,...",
        help=f"also time the EKD step with these switches on: {','.join(SWITCHES)}",
    )
    ap.add_argument("--no-table", dest="table", action="store_false", help="skip the step-kind table")
    ap.add_argument("--with-data", action="store_true", help="switch rows: time batch assembly + augmentation too")
    ap.add_argument("--json", help="also write every measured img/s to this JSON file")
    args = ap.parse_args()
    names = [n for n in args.switches.split(",") if n]
    unknown = sorted(set(names) - set(SWITCHES))
    if unknown:
        ap.error(f"unknown switch {unknown[0]}; choose from {', '.join(SWITCHES)}")
    plain = [
        "train.amp=none",
        "train.channels_last=off",
        "train.compile=off",
        "train.fused_sgd=off",
        "train.prefetch=0",
    ]
    base = [f"train.device={args.device}", *plain, *args.overrides]
    kinds = {
        "teacher": ["strategy=teacher-only", "teacher.guided=false"],
        "student": ["strategy=student-only"],
        "ekd": ["strategy=ekd"],
        "ekd-no-guided": ["strategy=ekd", "guided.count=0"],
    }
    device = torch.cuda.get_device_name() if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"device {device}, config {args.config}, overrides {args.overrides or 'none'}",
        flush=True,
    )
    record = {"device": device, "torch": torch.__version__, "config": args.config, "img_per_s": {}}

    def measure(bs: int, extra: list[str], key: str, loop: bool = False) -> float:
        """img/s of one cell (the batch size is the config's after ``extra``: a switch may change it)."""
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(args.config, [*base, f"train.batch_size={bs}", *extra])
            b = cfg.train.batch_size
            if loop:
                seconds = time_loop(cfg, args.classes, args.steps, args.warmup, tmp)
            else:
                seconds = time_step(cfg, args.classes, b, args.steps, args.warmup, tmp)
        record["img_per_s"][f"{key}@{bs}"] = round(b / seconds, 1)
        if args.json:  # rewritten after every cell, so a run cut short keeps what it measured
            atomic_write_json(args.json, record)
        return b / seconds

    if args.table:
        print("| batch | teacher img/s | student img/s | EKD img/s | EKD / (T + S) | guided share |")
        print("|---:|---:|---:|---:|---:|---:|")
        for bs in args.batch_sizes:
            t = {kind: bs / measure(bs, extra, kind) for kind, extra in kinds.items()}
            ratio = t["ekd"] / (t["teacher"] + t["student"])
            share = max(0.0, (t["ekd"] - t["ekd-no-guided"]) / t["ekd"])
            print(
                f"| {bs} | {bs / t['teacher']:.0f} | {bs / t['student']:.0f} | {bs / t['ekd']:.0f} | "
                f"{ratio:.3f} | {100 * share:.1f} % |",
                flush=True,
            )
    if names:
        what = "loop step (data + step)" if args.with_data else "step"
        print(f"\n| batch | switch | keys | EKD {what} img/s | x off |")
        print("|---:|---|---|---:|---:|")
        for bs in args.batch_sizes:
            off = measure(bs, ["strategy=ekd"], "ekd-switches-off", args.with_data)
            print(f"| {bs} | off | (none) | {off:.0f} | 1.00 |", flush=True)
            for name in names:
                on = measure(bs, ["strategy=ekd", *SWITCHES[name]], f"ekd+{name}", args.with_data)
                keys = " ".join(SWITCHES[name])
                print(f"| {bs} | {name} | {keys} | {on:.0f} | {on / off:.2f} |", flush=True)


if __name__ == "__main__":
    main()
