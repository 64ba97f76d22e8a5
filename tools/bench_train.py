"""Training-step throughput: teacher-only, student-only and EKD steps on synthetic 16x16 batches.

Prints img/s per step kind and batch size, the ratio t(EKD) / (t(teacher) + t(student)) and the
share of an EKD step spent in guided modules (EKD step minus the same step with guided.count=0).
Goals (issue 2): ratio <= 1.05, guided share <= 8 %. With --switches, also the EKD step with each
named speed switch on, beside the step with all of them off, in one table with the ratio to "off"
(issues 6 and 21; lrface/engine/speed.py). ``--with-data`` times what the training loop does per
step: the batch drawn and augmented as the configured backend does it, then the step; the rows take
turns over ``--rounds`` rounds so that a shared machine's drifting load falls on all of them alike.

    python tools/bench_train.py --config configs/face/uccs-r50-sr18-ekd.yaml --batch-sizes 64 256
    python tools/bench_train.py --device cuda --batch-sizes 256 1024 --switches bf16,channels_last,fused_sgd,fast,all
    python tools/bench_train.py --config configs/face/packaged-student.yaml --classes 565 --batch-sizes 64 \
        --no-table --with-data --rounds 4 --steps 5 --warmup 3 --switches threads2,channels_last,bf16,prefetch,speed
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
from lrface.engine.build import select_device
from lrface.engine.speed import check_switches, prefetched
from lrface.engine.trainer import Trainer
from lrface.errors import UserError
from lrface.fileio import atomic_write_json

FAST = ["train.amp=bf16", "train.channels_last=on", "train.fused_sgd=on"]
SPEED = ["train.amp=bf16", "train.channels_last=on", "train.parallel_streams=true", "train.prefetch=2"]  # CPU choice
SPEED_FP32 = SPEED[1:]  # the same set where the CPU has no bfloat16 kernels (train.amp=bf16 is refused there)
BATCH256 = ["train.batch_size=256", "optim.lr=0.2"]  # the x2 recipes' batch and lr (packaged-student-x2.yaml)
CL_THREADS2 = ["train.channels_last=on", "train.threads=2"]  # both cores as intra-op threads: AVX2's best when idle
THREADS = torch.get_num_threads()  # torch's own default, for rows that leave train.threads at 0
SWITCHES = {
    "bf16": ["train.amp=bf16"],
    "channels_last": ["train.channels_last=on"],
    "compile": ["train.compile=on"],
    "fused_sgd": ["train.fused_sgd=on"],
    "threads2": ["train.threads=2"],
    "prefetch": ["train.prefetch=2"],
    "parallel": ["train.parallel_streams=true"],
    "torch_aug": ["augment.backend=torch"],
    "batch128": ["train.batch_size=128", "optim.lr=0.2"],  # lr scaled linearly with the batch
    "bf16+channels_last": ["train.amp=bf16", "train.channels_last=on"],
    "fast": FAST,
    "all": [*FAST, "train.compile=on"],
    "speed": SPEED,
    "speed+threads2": [*SPEED, "train.threads=2"],
    "speed+batch128": [*SPEED, "train.batch_size=128", "optim.lr=0.2"],
    "speed+compile": [*SPEED, "train.compile=on"],
    "speed_fp32": SPEED_FP32,
    "channels_last+threads2": CL_THREADS2,
    "channels_last+threads2+prefetch": [*CL_THREADS2, "train.prefetch=2"],
    "channels_last+threads2+batch256": [*CL_THREADS2, *BATCH256],
    "channels_last+threads2+prefetch+batch256": [*CL_THREADS2, "train.prefetch=2", *BATCH256],
    "speed_fp32+batch256": [*SPEED_FP32, *BATCH256],
    "speed+trio_kd": [*SPEED, "embed_kd.model=sr18-celeba-x2hs-emb90-trio", "embed_kd.weight=1"],  # embed_kd
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
        inputs = {"teacher": x, "student": x}
        if tr.embed_kd is not None:  # the frozen model's pass, made with the batch in training: timed here
            inputs["embed_kd"] = tr.embed_kd.targets(x)
        tr.train_step(inputs, y)
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


class LoopCell:
    """One configuration's training loop on synthetic data, run in blocks of steps so that several
    configurations can take turns (``--rounds``): the shared machine's load then drifts over all of them
    alike. A step here is what the loop does: the next batch drawn and augmented, then the EKD step."""

    def __init__(self, cfg, classes: int, tmp: str):
        bs, rng = cfg.train.batch_size, np.random.default_rng(0)
        images = rng.integers(0, 255, (bs * 8, cfg.data.image_size, cfg.data.image_size, 3), dtype=np.uint8)
        labels = rng.integers(0, classes, bs * 8)
        data = DataBundle([str(i) for i in range(classes)], {"train": (images, labels), "test": (images, labels)})
        self.threads = cfg.train.threads or THREADS
        self.tr, self.bs, self.times, self.cpu = Trainer(cfg, data, tmp), bs, [], []
        for m in self.tr.streams.values():
            m.train()
        self.batches = self._forever()

    def _forever(self):
        for epoch in range(1_000_000):
            yield from prefetched(train_batches(self.tr, epoch), self.tr.cfg.train.prefetch)

    def run(self, steps: int, skip: int) -> None:
        """``steps`` loop steps, the first ``skip`` untimed (compilation, a prefetcher filling its queue)."""
        torch.set_num_threads(self.threads)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(skip + steps):
            x, y, idx = next(self.batches)
            self.tr.train_step(x, y, idx)
            if self.tr.device.type == "cuda":
                torch.cuda.synchronize()
            t1, c1 = time.perf_counter(), time.process_time()
            if i >= skip:
                self.times.append(t1 - t0)
                self.cpu.append(c1 - c0)
            t0, c0 = t1, c1

    def img_per_s(self) -> float:
        return self.bs / float(np.median(self.times))

    def img_per_cpu_s(self) -> float:
        """Images per second of this process's CPU time (all its threads): the work a step costs, which a
        busy machine's scheduler does not change (the wall-clock column is what a run waits for)."""
        return self.bs / float(np.median(self.cpu))


def measurable(config: str, overrides: list[str], name: str) -> bool:
    """Whether this machine honours the switch row ``name``; if not, one line saying why instead of its row."""
    cfg = load_config(config, overrides)
    try:
        check_switches(cfg, select_device(cfg.train.device))
    except UserError as e:
        print(f"# {name} not measured: {e}", flush=True)
        return False
    return True


def loop_table(args, base: list[str], names: list[str], record: dict) -> None:
    """The switch table of --with-data: every configuration built once, then ``--rounds`` rounds in which
    each runs ``--steps`` timed steps (after 2 untimed; ``--warmup`` in the first round), order rotated."""
    print("\n| batch | switch | keys | EKD loop step (data + step) img/s | x off | img per CPU-second | x off |")
    print("|---:|---|---|---:|---:|---:|---:|")
    rows = ["off", *names]
    with tempfile.TemporaryDirectory() as tmp:
        for bs in args.batch_sizes:
            cells = {
                n: LoopCell(
                    load_config(args.config, [*base, f"train.batch_size={bs}", "strategy=ekd", *SWITCHES.get(n, [])]),
                    args.classes,
                    f"{tmp}/{bs}-{n}",
                )
                for n in rows
            }
            for r in range(args.rounds):
                for n in rows[r % len(rows) :] + rows[: r % len(rows)]:
                    cells[n].run(args.steps, args.warmup if r == 0 else 2)
            off, off_cpu = cells["off"].img_per_s(), cells["off"].img_per_cpu_s()
            for n in rows:
                v, c = cells[n].img_per_s(), cells[n].img_per_cpu_s()
                record["img_per_s"][f"loop-{n}@{bs}"] = round(v, 1)
                record["img_per_s"][f"loop-{n}-per-cpu-s@{bs}"] = round(c, 1)
                keys = " ".join(SWITCHES.get(n, [])) or "(none)"
                row = f"| {cells[n].bs} | {n} | {keys} | {v:.0f} | {v / off:.2f} | {c:.0f} | {c / off_cpu:.2f} |"
                print(row, flush=True)  # the row's own batch: a switch may change it
    if args.json:
        atomic_write_json(args.json, record)


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
    ap.add_argument("--rounds", type=int, default=1, help="--with-data: rounds in which the rows take turns")
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
    names = [n for n in names if measurable(args.config, [*base, "strategy=ekd", *SWITCHES[n]], n)]

    def measure(bs: int, extra: list[str], key: str) -> tuple[float, int]:
        """img/s of one cell and its batch size (the config's after ``extra``: a switch may change it)."""
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(args.config, [*base, f"train.batch_size={bs}", *extra])
            b = cfg.train.batch_size
            seconds = time_step(cfg, args.classes, b, args.steps, args.warmup, tmp)
        record["img_per_s"][f"{key}@{bs}"] = round(b / seconds, 1)
        if args.json:  # rewritten after every cell, so a run cut short keeps what it measured
            atomic_write_json(args.json, record)
        return b / seconds, b

    if args.table:
        print("| batch | teacher img/s | student img/s | EKD img/s | EKD / (T + S) | guided share |")
        print("|---:|---:|---:|---:|---:|---:|")
        for bs in args.batch_sizes:
            t = {kind: bs / measure(bs, extra, kind)[0] for kind, extra in kinds.items()}
            ratio = t["ekd"] / (t["teacher"] + t["student"])
            share = max(0.0, (t["ekd"] - t["ekd-no-guided"]) / t["ekd"])
            print(
                f"| {bs} | {bs / t['teacher']:.0f} | {bs / t['student']:.0f} | {bs / t['ekd']:.0f} | "
                f"{ratio:.3f} | {100 * share:.1f} % |",
                flush=True,
            )
    if names and args.with_data:
        loop_table(args, base, names, record)
    elif names:
        print("\n| batch | switch | keys | EKD step img/s | x off |")
        print("|---:|---|---|---:|---:|")
        for bs in args.batch_sizes:
            off, _ = measure(bs, ["strategy=ekd"], "ekd-switches-off")
            print(f"| {bs} | off | (none) | {off:.0f} | 1.00 |", flush=True)
            for name in names:
                on, b = measure(bs, ["strategy=ekd", *SWITCHES[name]], f"ekd+{name}")
                keys = " ".join(SWITCHES[name])
                print(f"| {b} | {name} | {keys} | {on:.0f} | {on / off:.2f} |", flush=True)


if __name__ == "__main__":
    main()
