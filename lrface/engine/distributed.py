"""Multi-process training through torchrun (PyTorch DDP); one process when not launched by torchrun."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str, timeout_s: int = 600) -> DistInfo:
    """Join the torchrun process group (gloo on CPU, nccl on CUDA); a no-op outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available; use train.device=cpu for gloo")
        if local >= torch.cuda.device_count():
            raise UserError(
                f"local rank {local} has no GPU: {torch.cuda.device_count()} visible; "
                "set --nproc_per_node to at most the number of GPUs"
            )
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(rank, world, local)


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
