"""The training loop, readable top to bottom: build, (resume), for each epoch train + evaluate + save.

Checkpoints are written at the end of every epoch, so a resumed run restarts at an epoch boundary;
every random draw of an epoch (order, augmentation) is seeded from (seed, epoch), which makes a
resumed CPU run bit-identical to an uninterrupted one. Around it: ``build`` (device, streams,
teacher weights, optimizers), ``batches`` (an epoch's batches), ``evaluate`` (top-1 per classifier),
``run_dir`` (the run directory, resuming, what each epoch writes) and ``train_state`` (what a checkpoint holds).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import Config
from ..data.sources import DataBundle
from ..distill.embed_kd import EmbedDistiller
from ..distill.hr import HrDistiller
from ..distill.strategy import build_strategy
from ..errors import Hint, UserError
from ..models import StreamOutput
from ..preprocess import PreprocessSpec, preprocess
from .batches import train_batches
from .build import build_ema, build_optimizers, build_streams, load_teacher_weights, select_device
from .distributed import DistInfo, all_reduce_sum
from .evaluate import evaluate
from .metrics_log import tensorboard_writer
from .run_dir import end_epoch
from .speed import ParallelStep, check_switches, oversubscribed, prefetched, switch
from .train_state import restore_trainer, trainer_state


class TrainingDiverged(UserError):
    pass


class Trainer:
    def __init__(self, cfg: Config, data: DataBundle, run_dir: Path, dist: DistInfo = DistInfo()):
        self.cfg, self.data, self.run_dir, self.dist = cfg, data, Path(run_dir), dist
        self.device = select_device(cfg.train.device, dist.local_rank)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if dist.main and (warning := oversubscribed(cfg, self.device)):
            print(f"lrface: warning: {warning}", file=sys.stderr)
        self.spec = PreprocessSpec(cfg.data.image_size, tuple(cfg.preprocess.mean), tuple(cfg.preprocess.std))
        self.strategy = build_strategy(cfg)
        torch.manual_seed(cfg.train.seed)
        self.streams = build_streams(cfg, self.strategy, data.num_classes)
        check_switches(cfg, self.device, self.streams)
        if "teacher" in self.streams and (cfg.teacher.checkpoint or not self.strategy.trains("teacher")):
            if not cfg.teacher.checkpoint:
                raise UserError("a fixed teacher needs teacher.checkpoint (a teacher-only run directory or .pt)")
            # an evolutionary teacher trains its guided modules; only a fixed one needs them in the checkpoint
            load_teacher_weights(
                self.streams["teacher"],
                cfg,
                data.class_names,
                self.strategy.guided("teacher") and not self.strategy.trains("teacher"),
            )
        if cfg.init.run:
            from .transfer import apply_init

            apply_init(
                {s: m for s, m in self.streams.items() if self.strategy.trains(s)},
                cfg,
                log=lambda m: print(m, file=sys.stderr) if dist.main else None,
            )
        self.trainable = [s for s in ("teacher", "student") if s in self.streams and self.strategy.trains(s)]
        self.hr = (
            HrDistiller.build(
                cfg.hr, data.hr, data.splits["train"], data.num_classes, self.streams["student"].backbone.feature_dim
            )
            if "student" in self.streams
            else None
        )
        if self.hr is not None:
            self.hr.to(self.device)
        # the config loader refused it where no stream it names trains
        self.embed_kd = EmbedDistiller.build(
            cfg, self.streams["student"].backbone.feature_dim if "student" in self.streams else None
        )
        if self.embed_kd is not None:
            self.embed_kd.to(self.device)
        self.channels_last = switch(cfg.train.channels_last, self.device)
        for name, m in self.streams.items():
            if dist.enabled and cfg.train.sync_bn and self.device.type == "cuda" and name in self.trainable:
                self.streams[name] = m = torch.nn.SyncBatchNorm.convert_sync_batchnorm(m)
            m.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        self.ema = build_ema(cfg, self.streams.get("student"))
        self.optimizers, self.schedulers = build_optimizers(
            cfg, {s: self._parameters(s) for s in self.trainable}, self.device
        )
        # what the step calls: DDP wrappers for trained streams under torchrun, compiled where asked
        self.runners = {
            s: (
                torch.nn.parallel.DistributedDataParallel(
                    m, device_ids=[self.device.index] if self.device.type == "cuda" else None
                )
                if dist.enabled and s in self.trainable
                else m
            )
            for s, m in self.streams.items()
        }
        self.compiled = switch(cfg.train.compile, self.device)
        if self.compiled:
            self.runners = {s: torch.compile(r) for s, r in self.runners.items()}
        self.device_data = cfg.augment.backend == "torch" or (
            cfg.augment.backend == "auto" and self.device.type == "cuda" and not cfg.augment.degrade
        )
        self.epoch, self.step, self.best, self.best_epoch = 0, 0, -1.0, -1
        self.open_set = None
        if "val_open" in data.splits:
            from .openset import OpenSetValidation

            self.open_set = OpenSetValidation(*data.splits["val_open"], cfg.train.seed, cfg.data.val_pairs)
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.train.amp == "bf16")
        both = {"teacher", "student"} <= set(self.optimizers)
        self.parallel = ParallelStep(self) if cfg.train.parallel_streams and both and not dist.enabled else None

    def _parameters(self, stream: str) -> list:
        """What ``stream``'s optimizer updates: the stream, and for the student the HR and embed_kd projections."""
        extra = list(self.hr.parameters()) if stream == "student" and self.hr is not None else []
        extra += self.embed_kd.parameters() if stream == "student" and self.embed_kd is not None else []
        return list(self.streams[stream].parameters()) + extra

    @property
    def eval_streams(self) -> dict:
        """The streams that are validated: the trained ones and, with train.ema_decay, student_ema."""
        return {**self.streams, **({"student_ema": self.ema.module} if self.ema is not None else {})}

    @cached_property
    def train_on_device(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training split's images and labels copied to the device once, for device-side augmentation."""
        images, labels = (np.asarray(a) for a in self.data.splits["train"])
        return torch.as_tensor(images, device=self.device), torch.as_tensor(labels, device=self.device)

    @cached_property
    def unlabeled_on_device(self) -> torch.Tensor:
        """embed_kd.unlabeled's faces copied to the device once, for device-side augmentation."""
        return torch.as_tensor(np.asarray(self.data.unlabeled), device=self.device)

    # --- state (train_state.py: what a checkpoint holds) ------------------------------------------
    def state_dict(self) -> dict:
        return trainer_state(self)

    def load_state_dict(self, state: dict) -> None:
        restore_trainer(self, state)

    # --- one step (Algorithm 1) -----------------------------------------------------------------
    def to_input(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(preprocess(images, self.spec)).to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def forward(self, stream: str, x: torch.Tensor) -> StreamOutput:
        """Run a stream (DDP/compiled runner); a compile failure falls back to eager once, with a message."""
        try:
            return self.runners[stream](x)
        except Exception as e:
            if not self.compiled:
                raise
            print(
                f"lrface train: torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:100]}); "
                "continuing without compile (set train.compile=off to skip the attempt)",
                file=sys.stderr,
            )
            self.compiled = False
            self.runners = {s: getattr(r, "_orig_mod", r) for s, r in self.runners.items()}
            return self.runners[stream](x)

    def train_step(self, x: dict[str, torch.Tensor], y: torch.Tensor, idx=None) -> dict[str, torch.Tensor]:
        """One step in the order the strategy owns (``Strategy.step``; EKD: Algorithm 1).

        ``x`` holds each stream's input (and the frozen model's embeddings where embed_kd asks for them);
        ``idx`` (the batch's training-split indices) finds the HR descriptors where hr.* asks for them.
        Returns detached device tensors (no host synchronisation inside the step).
        """
        if self.parallel is not None:  # train.parallel_streams: the same order, teacher on a second thread
            return self.parallel(x, y, idx)
        return self.strategy.step(self, x, y, idx)

    def update(
        self,
        stream: str,
        out: StreamOutput,
        y: torch.Tensor,
        other: StreamOutput | None,
        logs: dict,
        extra: dict | None = None,
    ) -> None:
        """Back-propagate ``stream``'s loss (Eq. 11) and step its optimizer; its terms go into ``logs``."""
        loss, parts = self.strategy.stream_loss(stream, out, y, other, extra)
        opt = self.optimizers[stream]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if stream == "student" and self.ema is not None:
            self.ema.update_parameters(self.streams["student"])
        logs[f"loss_{stream}"] = loss.detach()
        logs.update({f"{stream}_{k}": v.detach() for k, v in parts.items()})

    @property
    def select_stream(self) -> str:
        """The stream whose score picks best.pt: ``train.select_on``, or the first trained stream where that one
        is not trained (``teacher-only`` keeps the default ``student``; a fixed teacher's score never changes)."""
        on = self.cfg.train.select_on
        return on if on.removesuffix("_ema") in self.trainable else self.trainable[0]

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """for each epoch: train, step the lr schedules, evaluate, log and checkpoint (torchvision's order)."""
        writer = tensorboard_writer(self.run_dir / "tb") if self.dist.main else None
        eval_split = "val" if "val" in self.data.splits else "test"
        if eval_split == "test" and self.open_set is None and self.dist.main:
            warnings.warn(  # the CLI prints it once the run has succeeded (a failure stays one line)
                Hint(
                    "no validation split: best.pt is picked on the test split, so the best test score is optimistic; "
                    "set data.val_fraction (e.g. 0.1) or data.val_identities for an honest one"
                ),
                stacklevel=2,
            )
        last: dict[str, float] = {}
        while self.epoch < self.cfg.train.epochs and not self._budget_spent():
            row = self.train_one_epoch()
            for sch in self.schedulers.values():
                sch.step()
            row.update(evaluate(self, eval_split))
            if eval_split != "test" and "test" in self.data.splits:
                row.update(evaluate(self, "test"))
            if self.open_set is not None:
                row.update(self.open_set(self))
            end_epoch(self, row, eval_split, writer)
            last = row
        if writer is not None:
            writer.close()
        return last

    def _budget_spent(self) -> bool:
        return bool(self.cfg.train.max_steps) and self.step >= self.cfg.train.max_steps

    def train_one_epoch(self) -> dict[str, float]:
        """One pass over the training split; returns the epoch's row (step, lr, speed, mean losses)."""
        cfg = self.cfg
        steps_per_epoch = max(1, len(self.data.splits["train"][1]) // cfg.train.batch_size)
        self.strategy.start_epoch(self.epoch)
        for name, m in self.streams.items():
            m.train(name != "teacher" or name in self.optimizers)  # a fixed teacher stays in eval mode
        sums: dict[str, torch.Tensor] = {}
        t0, seen, done = time.perf_counter(), 0, 0
        bar = tqdm(
            prefetched(train_batches(self, cfg.train.seed * 100_003 + self.epoch), cfg.train.prefetch),
            total=steps_per_epoch,
            desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}",
            leave=False,
            file=sys.stderr,
            disable=None if self.dist.main else True,
        )
        for i, (x, y, idx) in enumerate(bar):
            logs = self.train_step(x, y, idx)
            self.step, done, seen = self.step + 1, done + 1, seen + len(y) * self.dist.world
            for k, v in logs.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            stop = self._budget_spent()
            if i % cfg.train.log_every == 0 or i == steps_per_epoch - 1 or stop:
                means = self._check_finite(sums, done)  # the one host sync, every log_every steps
                bar.set_postfix(
                    **{k: f"{v:.3f}" for k, v in means.items() if k.startswith("loss_")},
                    img_s=f"{seen / (time.perf_counter() - t0):.0f}",
                )
            if stop:
                break
        train_time = time.perf_counter() - t0
        self.epoch += 1
        row = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": next(iter(self.optimizers.values())).param_groups[0]["lr"] if self.optimizers else 0.0,
            "train_seconds": round(train_time, 3),
            "img_per_s": round(seen / max(train_time, 1e-9), 1),
        }
        if sums:
            totals = all_reduce_sum(torch.stack([v.float() for v in sums.values()]), self.dist) / (
                done * self.dist.world
            )
            row.update(zip(sums, totals.tolist()))
        return row

    def _check_finite(self, sums: dict[str, torch.Tensor], done: int) -> dict[str, float]:
        """The epoch's running mean losses; TrainingDiverged if one is NaN/inf (a bad step poisons the sum)."""
        means = {k: float(v) / done for k, v in sums.items()}
        bad = [k for k, v in means.items() if k.startswith("loss_") and not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"{bad[0][5:]} loss became {means[bad[0]]} in epoch {self.epoch + 1} (by step {self.step}); the last "
                f"good checkpoint is kept in {self.run_dir / 'checkpoints'}; lower optim.lr"
            )
        return means
