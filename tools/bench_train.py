"""Training-step throughput: teacher-only, student-only and EKD steps on synthetic 16x16 batches.

Prints img/s per step kind and batch size, the ratio t(EKD) / (t(teacher) + t(student)) and the
share of an EKD step spent in guided modules (EKD step minus the same step with guided.count=0).
Goals (issue 2): ratio <= 1.05, guided share <= 8 %. With --switches, also the EKD step with the
named speed switches (bf16 autocast, channels_last, torch.compile, fused SGD; "fast" = all but
compile, "all" = all four) off and on (issue 6; goal on one H100: >= 20,000 img/s for the EKD step).

    python tools/bench_train.py --config configs/face/uccs-r50-sr18-ekd.yaml --batch-sizes 64 256
    python tools/bench_train.py --device cuda --batch-sizes 256 1024 --switches bf16,channels_last,fused_sgd,fast,all
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
from lrface.engine.trainer import Trainer
from lrface.fileio import atomic_write_json

FAST = ["train.amp=bf16", "train.channels_last=on", "train.fused_sgd=on"]
SWITCHES = {
    "bf16": ["train.amp=bf16"],
    "channels_last": ["train.channels_last=on"],
    "compile": ["train.compile=on"],
    "fused_sgd": ["train.fused_sgd=on"],
    "fast": FAST,
    "all": [*FAST, "train.compile=on"],
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
    ap.add_argument("--json", help="also write every measured img/s to this JSON file")
    args = ap.parse_args()
    names = [n for n in args.switches.split(",") if n]
    unknown = sorted(set(names) - set(SWITCHES))
    if unknown:
        ap.error(f"unknown switch {unknown[0]}; choose from {', '.join(SWITCHES)}")
    off = ["train.amp=none", "train.channels_last=off", "train.compile=off", "train.fused_sgd=off"]
    base = [f"train.device={args.device}", *off, *args.overrides]
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

    def measure(bs: int, extra: list[str], key: str) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(args.config, [*base, f"train.batch_size={bs}", *extra])
            seconds = time_step(cfg, args.classes, bs, args.steps, args.warmup, tmp)
        record["img_per_s"][f"{key}@{bs}"] = round(bs / seconds, 1)
        if args.json:  # rewritten after every cell, so a run cut short keeps what it measured
            atomic_write_json(args.json, record)
        return seconds

    if args.table:
        print("| batch | teacher img/s | student img/s | EKD img/s | EKD / (T + S) | guided share |")
        print("|---:|---:|---:|---:|---:|---:|")
        for bs in args.batch_sizes:
            t = {kind: measure(bs, extra, kind) for kind, extra in kinds.items()}
            ratio = t["ekd"] / (t["teacher"] + t["student"])
            share = max(0.0, (t["ekd"] - t["ekd-no-guided"]) / t["ekd"])
            print(
                f"| {bs} | {bs / t['teacher']:.0f} | {bs / t['student']:.0f} | {bs / t['ekd']:.0f} | "
                f"{ratio:.3f} | {100 * share:.1f} % |",
                flush=True,
            )
    if names:
        print("\n| batch | switch | EKD img/s off | EKD img/s on |")
        print("|---:|---|---:|---:|")
        for bs in args.batch_sizes:
            t_off = measure(bs, ["strategy=ekd"], "ekd-switches-off")
            for name in names:
                t_on = measure(bs, ["strategy=ekd", *SWITCHES[name]], f"ekd+{name}")
                print(f"| {bs} | {name} | {bs / t_off:.0f} | {bs / t_on:.0f} |", flush=True)


if __name__ == "__main__":
    main()
