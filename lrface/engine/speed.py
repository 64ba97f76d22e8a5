"""The training speed switches (train.*): what each asks of this machine and torch build, checked before
any work starts; the batch prefetcher (train.prefetch) and the two-thread EKD step (train.parallel_streams).

Measured side by side by ``tools/bench_train.py --switches``; the choice for the packaged recipe on a
2-core CPU is in docs/train-speed.md.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from queue import Queue

import torch

from .. import checks
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


def onednn_1x1_hazard(streams: dict[str, torch.nn.Module]) -> str | None:
    """The first convolution that oneDNN's CPU kernels may train wrongly in channels_last, or None.

    A 1x1 convolution with stride > 1 and fewer input channels than a vector register holds: oneDNN's AVX2 kernel
    for its weight gradients writes past its workspace, so they come out wrong and the heap is corrupted (oneDNN
    issue 6035; torch 2.14.1 on a Zen 3 EPYC, below 8 channels: 26 % relative error, then an abort). AVX-512 holds
    16: not measured there, so refused below 16 on every CPU. Forward passes and wider layers are right.
    """
    for stream, model in streams.items():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1:
                if (cin := m.in_channels // m.groups) < 16:
                    return f"{stream} layer {name} (1x1, stride {max(m.stride)}, {cin} input channels)"
    return None


def check_switches(cfg: Config, device: torch.device, streams: dict | None = None) -> None:
    """UserError (one line, exit 2) for a switch this torch build or machine cannot honour; ``streams`` are the
    config's models where they are built already (else channels_last on CPU builds them to look at their layers)."""
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
    if t.parallel_streams and switch(t.compile, device):
        raise UserError("train.parallel_streams runs the streams eagerly on two threads; set train.compile=off")
    if t.amp == "bf16" and not bf16_supported(device):
        raise UserError(
            f"train.amp=bf16: this {device.type.upper()} and torch build have no bfloat16 kernels "
            "(oneDNN needs AVX-512 on CPU); set train.amp=none"
        )
    if switch(t.channels_last, device) and device.type == "cpu":
        from ..distill.strategy import build_strategy
        from .build import build_streams

        if layer := onednn_1x1_hazard(streams or build_streams(cfg, build_strategy(cfg), num_classes=2)):
            raise UserError(
                f"train.channels_last=on: oneDNN's CPU kernels get the weight gradients of a strided 1x1 convolution "
                f"with under 16 input channels wrong (measured below 8 on AVX2), as in the {layer}; "
                "set train.channels_last=off"
            )


def oversubscribed(cfg: Config, device: torch.device, cores: int | None = None) -> str | None:
    """A one-line warning when train.parallel_streams on CPU runs two streams of intra-op threads on more
    threads than cores: each parallel region then waits for a parked thread (one 60-epoch run on this
    project's 2-core VM went from ~600 to ~50 img/s with train.threads=2); None when it fits."""
    if not cfg.train.parallel_streams or device.type != "cpu":
        return None
    cores = cores or checks.cores()  # the cores this process may run on (affinity), as elsewhere
    per_stream = cfg.train.threads or torch.get_num_threads()
    if 2 * per_stream <= cores:
        return None
    return (
        f"train.parallel_streams runs two streams of {per_stream} intra-op threads on {cores} cores, which can "
        f"make a step many times slower; set train.threads={max(1, cores // 2)}"
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


class ParallelStep:
    """train.parallel_streams: one EKD step with the teacher's forward and update on a second thread beside
    the student's. The arithmetic is Trainer.train_step's (each stream learns from the other's outputs of
    this step's forwards, taken before either update), so the weights are bit-identical; the two threads
    share no intra-op parallel region, so neither waits at a barrier for the other (train.threads=1)."""

    def __init__(self, trainer):
        self.tr = trainer
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="lrface-teacher")

    def _amp(self):  # autocast state is per thread and an autocast object is not re-entrant across threads
        return torch.autocast(self.tr.device.type, dtype=torch.bfloat16, enabled=self.tr.cfg.train.amp == "bf16")

    def _forward(self, stream: str, x: torch.Tensor):
        with self._amp():
            return self.tr.forward(stream, x)

    def __call__(self, x: dict[str, torch.Tensor], y: torch.Tensor, idx=None) -> dict[str, torch.Tensor]:
        tr, t_logs, s_logs = self.tr, {}, {}
        t_future = self.pool.submit(self._forward, "teacher", x["teacher"])
        s_out = self._forward("student", x["student"])
        t_out = t_future.result()
        other = s_out.rows(len(y)).detach() if tr.strategy.mutual else None
        t_extra = tr.strategy.extras(tr, "teacher", t_out, x, idx)
        t_future = self.pool.submit(tr.update, "teacher", t_out, y, other, t_logs, t_extra)
        extra = tr.strategy.extras(tr, "student", s_out, x, idx)  # embed_kd over every row, the rest labeled rows
        tr.update("student", s_out.rows(len(y)), y, t_out.detach(), s_logs, extra)
        t_future.result()
        return {**t_logs, **s_logs}
