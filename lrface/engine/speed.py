"""The training speed switches (train.*): what each asks of this machine and torch build, checked before
any work starts, and the batch prefetcher (train.prefetch).

Measured side by side by ``tools/bench_train.py --switches``; the choice for the packaged recipe on a
2-core CPU is in docs/train-speed.md.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from queue import Queue

import torch

from ..config import Config
from ..errors import UserError


def switch(value: str, device: torch.device) -> bool:
    """An on/off/auto setting: auto means on for CUDA."""
    return value == "on" or (value == "auto" and device.type == "cuda")


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile (Inductor) would call on CPU, if one is on PATH."""
    import torch._inductor.config as inductor

    return next((shutil.which(c) for c in inductor.cpp.cxx if c and shutil.which(c)), None)


def bf16_supported(device: torch.device) -> bool:
    """Whether this device and torch build have bfloat16 kernels (oneDNN's on CPU)."""
    return torch.cuda.is_bf16_supported() if device.type == "cuda" else torch.ops.mkldnn._is_mkldnn_bf16_supported()


def check_switches(cfg: Config, device: torch.device) -> None:
    """UserError (one line, exit 2) for a switch this torch build or machine cannot honour."""
    t = cfg.train
    if t.compile == "on":
        import torch._dynamo as dynamo

        if not dynamo.is_dynamo_supported():
            raise UserError(
                f"train.compile=on: torch {torch.__version__} has no torch.compile for Python "
                f"{sys.version.split()[0]}; set train.compile=off"
            )
        if device.type == "cpu" and cpp_compiler() is None:
            raise UserError(
                "train.compile=on needs a C++ compiler on CPU (torch.compile builds its kernels with g++, or $CXX) "
                "and none is on PATH; install g++ or set train.compile=off"
            )
    if t.amp == "bf16" and not bf16_supported(device):
        raise UserError(
            f"train.amp=bf16: this {device.type.upper()} and torch build have no bfloat16 kernels "
            "(oneDNN needs AVX-512 on CPU); set train.amp=none"
        )


def prefetched(batches: Iterator, depth: int) -> Iterator:
    """``batches`` produced ``depth`` ahead on a background thread (the same batches in the same order:
    one thread draws them, so every seeded draw is as without it); ``depth`` 0 is ``batches`` itself."""
    if depth <= 0:
        yield from batches
        return
    queue: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for b in batches:
                if stop.is_set():
                    return
                queue.put(b)
            queue.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            queue.put(e)

    worker = threading.Thread(target=produce, name="lrface-prefetch", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            while not queue.empty():
                queue.get_nowait()
            worker.join(timeout=0.05)
