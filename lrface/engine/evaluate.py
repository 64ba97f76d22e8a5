"""Closed-set evaluation after each epoch: the top-1 of every classifier of every stream, and the
capability gap (teacher top-1 minus student top-1); under torchrun each rank scores a shard."""

from __future__ import annotations

import numpy as np
import torch

from .distributed import all_reduce_sum


@torch.inference_mode()
def evaluate(trainer, split: str) -> dict[str, float]:
    """Top-1 of every classifier (heads and guided) of every stream on ``split``."""
    images, labels = trainer.data.splits[split]
    shard = np.arange(trainer.dist.rank, len(labels), trainer.dist.world)
    names = [n for s, m in trainer.eval_streams.items() for n in (s, *(f"{s}_g{p + 1}" for p in m.positions))]
    correct = torch.zeros(len(names), dtype=torch.float64, device=trainer.device)
    for m in trainer.eval_streams.values():
        m.eval()
    bs = trainer.cfg.train.eval_batch_size
    for i in range(0, len(shard), bs):
        idx = shard[i : i + bs]
        x = trainer.to_input(images[idx])
        y = torch.from_numpy(np.asarray(labels[idx])).to(trainer.device)
        hits = []
        for m in trainer.eval_streams.values():
            with trainer.autocast:
                out = m(x)
            hits += [(lg.argmax(1) == y).sum() for lg in (out.logits, *out.guided_logits)]
        correct += torch.stack(hits).double()
    correct = all_reduce_sum(correct, trainer.dist).tolist()
    n = max(len(labels), 1)
    res = {f"{split}_top1_{k}": 100.0 * v / n for k, v in zip(names, correct)}
    if "teacher" in trainer.streams and "student" in trainer.streams:
        res[f"{split}_gap"] = res[f"{split}_top1_teacher"] - res[f"{split}_top1_student"]
    return res
