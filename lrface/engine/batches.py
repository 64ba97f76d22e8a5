"""The training split in batches for one epoch, on the host (albumentations) or on the device.

The order (data/sampling.py) and every augmentation draw are seeded from the epoch seed (and the rank),
so an epoch's batches are the same whether the run was resumed or not.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import device as device_data
from ..data.augment import augment_batch, build_augment
from ..data.sampling import epoch_order
from ..errors import UserError


def unlabeled_order(n: int, steps: int, per_step: int, epoch_seed: int) -> np.ndarray:
    """``steps`` x ``per_step`` indices into embed_kd.unlabeled's ``n`` faces for one epoch: seeded shuffles of
    all of them, one after another, so each face comes once before any comes again."""
    gen = torch.Generator().manual_seed(epoch_seed * 7 + 2)
    rounds = -(-steps * per_step // n)
    return torch.cat([torch.randperm(n, generator=gen) for _ in range(rounds)])[: steps * per_step].numpy()


def train_batches(trainer, epoch_seed: int):
    """This rank's share of each global batch of the epoch: (inputs, labels, indices); inputs by stream, and
    with embed_kd the frozen model's embeddings of the streams' views (made here, so on the prefetch thread).
    With embed_kd.unlabeled the student's input holds the batch's faces first, then that many more faces
    (augmented as its view, no label), and ``labels`` only the first's."""
    cfg, (images, labels) = trainer.cfg, trainer.data.splits["train"]
    n, bs, world, rank = len(labels), cfg.train.batch_size, trainer.dist.world, trainer.dist.rank
    if bs % world:
        raise UserError(f"train.batch_size {bs} (the global batch) must be divisible by the {world} processes")
    order = epoch_order(labels, epoch_seed, cfg.train.per_identity)
    local = bs // world
    if trainer.device_data:
        train_images, train_labels = trainer.train_on_device
        gens = [torch.Generator(device=trainer.device).manual_seed(epoch_seed * 7 + i + 1000 * rank) for i in range(2)]
    else:
        seeds = [epoch_seed * 7 + i + 1000 * rank for i in range(2)]
        augs = [build_augment(cfg.augment, cfg.data.image_size, s, native_size=images.shape[1]) for s in seeds]
    steps, unlabeled = max(1, n // bs), trainer.data.unlabeled
    if unlabeled is not None:
        ub, u_seed = cfg.embed_kd.unlabeled_batch, epoch_seed * 7 + 2 + 1000 * rank
        u_order, u_local = unlabeled_order(len(unlabeled), steps, ub, epoch_seed), -(-ub // world)
        u_draw = (
            torch.Generator(device=trainer.device).manual_seed(u_seed)
            if trainer.device_data
            else build_augment(cfg.augment, cfg.data.image_size, u_seed)
        )
    for i in range(steps):
        idx = np.sort(order[i * bs : (i + 1) * bs])[rank * local : (rank + 1) * local]
        if trainer.device_data:
            gidx = torch.as_tensor(idx, device=trainer.device)
            batch, y = train_images[gidx], train_labels[gidx]
            views = [device_view(trainer, batch, g) for g in gens[: 1 + cfg.augment.independent]]
        else:
            batch, y = images[idx], torch.from_numpy(np.asarray(labels[idx])).to(trainer.device)
            views = [trainer.to_input(augment_batch(a, batch)) for a in augs[: 1 + cfg.augment.independent]]
        x = {"teacher": views[-1], "student": views[0]}
        if unlabeled is not None:
            uidx = u_order[i * ub : (i + 1) * ub][rank * u_local : (rank + 1) * u_local]
            x["student"] = torch.cat([views[0], unlabeled_view(trainer, uidx, u_draw)])
            if trainer.channels_last:
                x["student"] = x["student"].contiguous(memory_format=torch.channels_last)
        if trainer.embed_kd is not None:
            x.update(trainer.embed_kd.batch_targets(x, shared=views[-1] is views[0]))
        yield x, y, idx


def device_view(trainer, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A uint8 batch on the device augmented with ``gen``'s draws (where augment.enabled) and normalised."""
    cfg = trainer.cfg
    view = device_data.normalize(
        device_data.augment(batch, cfg.augment, gen) if cfg.augment.enabled else batch, trainer.spec
    )
    return view.contiguous(memory_format=torch.channels_last) if trainer.channels_last else view


def unlabeled_view(trainer, uidx: np.ndarray, draw) -> torch.Tensor:
    """embed_kd.unlabeled's faces ``uidx``, augmented and normalised as the student's view: on the device with
    ``draw`` a generator, else on the host with ``draw`` an augmenter."""
    if not trainer.device_data:
        return trainer.to_input(augment_batch(draw, trainer.data.unlabeled[uidx]))
    return device_view(trainer, trainer.unlabeled_on_device[torch.as_tensor(uidx, device=trainer.device)], draw)
