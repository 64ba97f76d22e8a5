"""Embedding speed of models side by side: one face per call (latency) and batches (throughput).

The models are timed in interleaved rounds (each round times every model once), so a machine whose speed
drifts slows all of them alike; the table gives medians over the rounds and each model's time relative to
the first. ONNX Runtime on CPU, default threads (one per core), random 16x16 faces.

    python tools/bench_embed.py sr18-celeba-x2hs sr18-celeba-x2-flip duo.onnx [--rounds 7] [--batch 1024]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="packaged model names or ONNX files; the first is the reference")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--singles", type=int, default=200, help="one-face calls per round")
    ap.add_argument("--batch", type=int, default=1024)
    args = ap.parse_args()

    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    embedders = [Embedder(resolve_model(m)) for m in args.models]
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    batch = rng.integers(0, 256, (args.batch, 16, 16, 3), dtype=np.uint8)
    for e in embedders:  # warm-up
        e.embed(one), e.embed(batch)
    single = np.zeros((args.rounds, len(embedders)))
    bulk = np.zeros_like(single)
    for r in range(args.rounds):
        for k, e in enumerate(embedders):
            t = time.perf_counter()
            for _ in range(args.singles):
                e.embed(one)
            single[r, k] = (time.perf_counter() - t) / args.singles * 1e3
            t = time.perf_counter()
            e.embed(batch)
            bulk[r, k] = args.batch / (time.perf_counter() - t)
    ms, fps = np.median(single, 0), np.median(bulk, 0)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {stamp}, {args.rounds} rounds")
    print(f"| model | dim | ms per single face | x first | faces/s, batch {args.batch} | x first |")
    print("|---|---:|---:|---:|---:|---:|")
    for m, e, t, f in zip(args.models, embedders, ms, fps, strict=True):
        print(f"| {m} | {e.dim} | {t:.2f} | {t / ms[0]:.2f} | {f:,.0f} | {f / fps[0]:.2f} |")


if __name__ == "__main__":
    main()
