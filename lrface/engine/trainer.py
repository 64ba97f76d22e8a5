"""The training loop, readable top to bottom: build, (resume), for each epoch train + evaluate + save.

Checkpoints are written at the end of every epoch, so a resumed run restarts at an epoch boundary;
every random draw of an epoch (order, augmentation) is seeded from (seed, epoch), which makes a
resumed CPU run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from ..config import Config, config_from_dict, read_yaml_mapping
from ..data import device as device_data
from ..data.augment import augment_batch, build_augment
from ..data.sources import DataBundle
from ..distill.hr import HrDistiller
from ..distill.strategy import Strategy, build_strategy
from ..errors import UserError
from ..fileio import atomic_write_text
from ..models import Stream, StreamOutput, build_model
from ..models.heads import attach_head
from ..models.stream import guided_positions
from ..preprocess import PreprocessSpec, preprocess
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import DistInfo, all_reduce_sum
from .metrics_log import append_metrics, epoch_summary, tensorboard_writer, write_scalars


class TrainingDiverged(UserError):
    pass


def select_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but no CUDA device is available; use train.device=auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)


def _switch(value: str, device: torch.device) -> bool:
    return value == "on" or (value == "auto" and device.type == "cuda")


def build_streams(cfg: Config, strategy: Strategy, num_classes: int) -> dict[str, Stream]:
    """One Stream per strategy stream; guided modules share D = the student's feature size by default."""
    backbones = {
        s: attach_head(
            build_model(getattr(cfg, s).arch, num_classes=num_classes, **getattr(cfg, s).kwargs),
            cfg.head.type,
            cfg.head.s,
        )
        for s in strategy.streams
    }
    dim = cfg.guided.dim or (
        backbones["student"].feature_dim
        if "student" in backbones
        else build_model(cfg.student.arch, num_classes, **cfg.student.kwargs).feature_dim
    )
    streams = {}
    for s, bb in backbones.items():
        positions = []
        if strategy.guided(s):
            if not 0 <= cfg.guided.count <= len(bb.blocks) - 1:
                raise UserError(
                    f"guided.count {cfg.guided.count} must be within 0..{len(bb.blocks) - 1} for {getattr(cfg, s).arch}"
                )
            positions = guided_positions(len(bb.blocks), cfg.guided.count, cfg.guided.blocks)
        try:
            streams[s] = Stream(bb, num_classes, positions, dim, cfg.guided.width)
            for gm in streams[s].guided:
                attach_head(gm, cfg.head.type, cfg.head.s)
        except ValueError as e:
            raise UserError(f"guided.blocks: {e}") from None
    return streams


def load_teacher_weights(stream: Stream, cfg: Config, class_names: list[str], need_guided: bool) -> None:
    """Initialise the teacher from ``teacher.checkpoint`` (a teacher-only or EKD run), checking it fits."""
    path = Path(cfg.teacher.checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    state = load_checkpoint(path)
    sd = state["models"].get("teacher")
    arch = state["config"]["teacher"]["arch"]
    if sd is None:
        raise UserError(f"{path}: holds no teacher; train one with strategy teacher-only")
    if arch != cfg.teacher.arch:
        raise UserError(f"{path}: teacher is {arch}, config asks for {cfg.teacher.arch}; set teacher.arch={arch}")
    if len(state["class_names"]) != len(class_names):
        raise UserError(
            f"{path}: teacher has {len(state['class_names'])} classes, this data has "
            f"{len(class_names)}; train the teacher on the same data"
        )
    missing, _ = stream.load_state_dict(sd, strict=False)
    missing = [k for k in missing if need_guided or k.startswith("backbone.")]
    if missing:
        raise UserError(
            f"{path}: teacher checkpoint lacks {len(missing)} weights (e.g. {missing[0]}); "
            "for a fixed teacher with guided modules train it with teacher.guided=true, or set teacher.guided=false"
        )


def lr_schedule(opt: torch.optim.Optimizer, milestones: list, gamma: float, warmup_epochs: int):
    """Multi-step lr decay (stepped per epoch), after a linear warm-up from lr/n to lr over n epochs."""
    steps = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    if warmup_epochs <= 1:
        return steps
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup_epochs, total_iters=warmup_epochs - 1)
    return torch.optim.lr_scheduler.ChainedScheduler([warm, steps], optimizer=opt)


class Trainer:
    def __init__(self, cfg: Config, data: DataBundle, run_dir: Path, dist: DistInfo = DistInfo()):
        self.cfg, self.data, self.run_dir, self.dist = cfg, data, Path(run_dir), dist
        self.device = select_device(cfg.train.device, dist.local_rank)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.spec = PreprocessSpec(cfg.data.image_size, tuple(cfg.preprocess.mean), tuple(cfg.preprocess.std))
        self.strategy = build_strategy(cfg)
        torch.manual_seed(cfg.train.seed)
        self.streams = build_streams(cfg, self.strategy, data.num_classes)
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
        self.channels_last = _switch(cfg.train.channels_last, self.device)
        for name, m in self.streams.items():
            if dist.enabled and cfg.train.sync_bn and self.device.type == "cuda" and name in self.trainable:
                self.streams[name] = m = torch.nn.SyncBatchNorm.convert_sync_batchnorm(m)
            m.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        oc = cfg.optim
        fused = _switch(cfg.train.fused_sgd, self.device) or None
        self.optimizers = {
            s: torch.optim.SGD(
                self._parameters(s),
                lr=oc.lr,
                momentum=oc.momentum,
                weight_decay=oc.weight_decay,
                nesterov=oc.nesterov,
                fused=fused,
            )
            for s in self.trainable
        }
        steps = {
            s: list(oc.teacher_milestones if s == "teacher" and oc.teacher_milestones else oc.milestones)
            for s in self.optimizers
        }
        self.schedulers = {s: lr_schedule(o, steps[s], oc.gamma, oc.warmup_epochs) for s, o in self.optimizers.items()}
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
        self.compiled = _switch(cfg.train.compile, self.device)
        if self.compiled:
            self.runners = {s: torch.compile(r) for s, r in self.runners.items()}
        self.device_data = cfg.augment.backend == "torch" or (
            cfg.augment.backend == "auto" and self.device.type == "cuda"
        )
        self.epoch, self.step, self.best, self.best_epoch = 0, 0, -1.0, -1
        self.open_set = None
        if "val_open" in data.splits:
            from .openset import OpenSetValidation

            self.open_set = OpenSetValidation(*data.splits["val_open"], cfg.train.seed, cfg.data.val_pairs)
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.train.amp == "bf16")

    def _parameters(self, stream: str) -> list:
        """What ``stream``'s optimizer updates: the stream, and for the student the HR projection."""
        extra = list(self.hr.parameters()) if stream == "student" and self.hr is not None else []
        return list(self.streams[stream].parameters()) + extra

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "class_names": self.data.class_names,
            "preprocess": self.spec.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "models": {s: m.state_dict() for s, m in self.streams.items()},
            "hr": self.hr.state_dict() if self.hr is not None else {},
            "optimizers": {s: o.state_dict() for s, o in self.optimizers.items()},
            "schedulers": {s: o.state_dict() for s, o in self.schedulers.items()},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
        }

    def load_state_dict(self, state: dict) -> None:
        for s, m in self.streams.items():
            m.load_state_dict(state["models"][s])
        if self.hr is not None:
            self.hr.load_state_dict(state["hr"])
        for s, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][s])
        for s, o in self.schedulers.items():
            o.load_state_dict(state["schedulers"][s])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

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
        """Teacher forward + update, then student forward + update with the step-1 teacher outputs.

        ``idx`` (the batch's training-split indices) finds the HR descriptors where hr.* asks for them.
        Returns detached device tensors (no host synchronisation inside the step).
        """
        logs: dict[str, torch.Tensor] = {}
        t_out = s_out = None
        if "teacher" in self.streams:
            with self.autocast, torch.set_grad_enabled("teacher" in self.optimizers):
                t_out = self.forward("teacher", x["teacher"])
        if self.strategy.mutual:
            with self.autocast:
                s_out = self.forward("student", x["student"])
        if "teacher" in self.optimizers:
            self._update("teacher", t_out, y, s_out.detach() if s_out is not None else None, logs)
        if "student" in self.streams:
            if s_out is None:
                with self.autocast:
                    s_out = self.forward("student", x["student"])
            extra = self.hr.parts(s_out, idx) if self.hr is not None else None
            self._update("student", s_out, y, t_out.detach() if t_out is not None else None, logs, extra)
        return logs

    def _update(
        self,
        stream: str,
        out: StreamOutput,
        y: torch.Tensor,
        other: StreamOutput | None,
        logs: dict,
        extra: dict | None = None,
    ) -> None:
        loss, parts = self.strategy.stream_loss(stream, out, y, other, extra)
        opt = self.optimizers[stream]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        logs[f"loss_{stream}"] = loss.detach()
        logs.update({f"{stream}_{k}": v.detach() for k, v in parts.items()})

    # --- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Top-1 of every classifier (heads and guided) of every stream on ``split``."""
        images, labels = self.data.splits[split]
        shard = np.arange(self.dist.rank, len(labels), self.dist.world)
        names = [n for s, m in self.streams.items() for n in (s, *(f"{s}_g{p + 1}" for p in m.positions))]
        correct = torch.zeros(len(names), dtype=torch.float64, device=self.device)
        for m in self.streams.values():
            m.eval()
        bs = self.cfg.train.eval_batch_size
        for i in range(0, len(shard), bs):
            idx = shard[i : i + bs]
            x = self.to_input(images[idx])
            y = torch.from_numpy(np.asarray(labels[idx])).to(self.device)
            hits = []
            for m in self.streams.values():
                with self.autocast:
                    out = m(x)
                hits += [(lg.argmax(1) == y).sum() for lg in (out.logits, *out.guided_logits)]
            correct += torch.stack(hits).double()
        correct = all_reduce_sum(correct, self.dist).tolist()
        n = max(len(labels), 1)
        res = {f"{split}_top1_{k}": 100.0 * v / n for k, v in zip(names, correct)}
        if "teacher" in self.streams and "student" in self.streams:
            res[f"{split}_gap"] = res[f"{split}_top1_teacher"] - res[f"{split}_top1_student"]
        return res

    # --- the loop -----------------------------------------------------------------------------
    def batches(self, epoch_seed: int):
        """This rank's share of each global batch of the epoch: (teacher input, student input, labels, indices)."""
        cfg, (images, labels) = self.cfg, self.data.splits["train"]
        n, bs, world = len(labels), cfg.train.batch_size, self.dist.world
        if bs % world:
            raise UserError(f"train.batch_size {bs} (the global batch) must be divisible by the {world} processes")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed)).numpy()
        local = bs // world
        if self.device_data:
            if not hasattr(self, "_dev_train"):
                self._dev_train = (
                    torch.as_tensor(np.asarray(images), device=self.device),
                    torch.as_tensor(np.asarray(labels), device=self.device),
                )
            gens = [
                torch.Generator(device=self.device).manual_seed(epoch_seed * 7 + i + 1000 * self.dist.rank)
                for i in range(2)
            ]
        else:
            augs = [
                build_augment(cfg.augment, cfg.data.image_size, epoch_seed * 7 + i + 1000 * self.dist.rank)
                for i in range(2)
            ]
        for i in range(max(1, n // bs)):
            idx = np.sort(order[i * bs : (i + 1) * bs])[self.dist.rank * local : (self.dist.rank + 1) * local]
            if self.device_data:
                gidx = torch.as_tensor(idx, device=self.device)
                batch, y = self._dev_train[0][gidx], self._dev_train[1][gidx]
                views = [
                    device_data.normalize(
                        device_data.augment(batch, cfg.augment, g) if cfg.augment.enabled else batch, self.spec
                    )
                    for g in gens[: 1 + cfg.augment.independent]
                ]
                if self.channels_last:
                    views = [v.contiguous(memory_format=torch.channels_last) for v in views]
            else:
                batch, y = images[idx], torch.from_numpy(np.asarray(labels[idx])).to(self.device)
                views = [self.to_input(augment_batch(a, batch)) for a in augs[: 1 + cfg.augment.independent]]
            yield views[-1], views[0], y, idx

    def fit(self) -> dict[str, float]:
        """for each epoch: train, step the lr schedules, evaluate, log and checkpoint (torchvision's order)."""
        writer = tensorboard_writer(self.run_dir / "tb") if self.dist.main else None
        eval_split = "val" if "val" in self.data.splits else "test"
        last: dict[str, float] = {}
        while self.epoch < self.cfg.train.epochs and not self._budget_spent():
            row = self.train_one_epoch()
            for sch in self.schedulers.values():
                sch.step()
            row.update(self.evaluate(eval_split))
            if eval_split != "test":
                row.update(self.evaluate("test"))
            if self.open_set is not None:
                row.update(self.open_set(self))
            self.end_epoch(row, eval_split, writer)
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
            self.batches(cfg.train.seed * 100_003 + self.epoch),
            total=steps_per_epoch,
            desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}",
            leave=False,
            file=sys.stderr,
            disable=None if self.dist.main else True,
        )
        for i, (x_t, x_s, y, idx) in enumerate(bar):
            logs = self.train_step({"teacher": x_t, "student": x_s}, y, idx)
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

    def end_epoch(self, row: dict, eval_split: str, writer) -> None:
        """Append the row to metrics.csv/TensorBoard and save last.pt (and best.pt on a new best score)."""
        key = "val_open_acc" if self.open_set is not None else f"{eval_split}_top1"  # open-set accuracy picks best.pt
        score = row.get(f"{key}_{self.cfg.train.select_on}", row.get(f"{key}_{self.trainable[0]}"))
        if not self.dist.main:
            self.best = max(self.best, score)
            return
        append_metrics(self.run_dir, row)
        write_scalars(writer, row)
        improved = score >= self.best  # on ties the later (longer-trained) epoch wins
        if improved:
            self.best, self.best_epoch = score, self.epoch
        state = self.state_dict()
        save_checkpoint(state, self.run_dir / "checkpoints" / "last.pt")
        if improved:
            save_checkpoint(state, self.run_dir / "checkpoints" / "best.pt")
        print(epoch_summary(row, eval_split), file=sys.stderr)


def prepare_run_dir(run_dir: Path, cfg: Config, force: bool) -> None:
    """Create a fresh run directory; refuse one that exists and is not empty unless ``force``."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not force:
            what = (
                "is a run; continue it with --resume"
                if (run_dir / "checkpoints").is_dir()
                else "exists and is not a run"
            )
            raise UserError(f"output directory {run_dir} {what}, or pass --force to overwrite it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def resume_state(run_dir: Path, overrides: list[str]) -> tuple[Config, dict]:
    """Config and state of ``run_dir/checkpoints/last.pt``; only train.* keys may be overridden."""
    if not run_dir.is_dir() or not (run_dir / "config.yaml").is_file():
        raise UserError(f"--resume {run_dir}: not a run directory (no config.yaml); pass the --out of an earlier run")
    last = run_dir / "checkpoints" / "last.pt"
    if not last.is_file():
        raise UserError(
            f"--resume {run_dir}: no checkpoints/last.pt yet (the run ended before its first epoch); start it again with --force"
        )
    state = load_checkpoint(last)
    raw = state["config"]
    started = _flat(config_from_dict(read_yaml_mapping(run_dir / "config.yaml", "--resume")).to_dict())
    saved = _flat(config_from_dict(raw).to_dict())
    differ = [k for k in started if not k.startswith("train.") and started[k] != saved.get(k)]
    if differ:
        raise UserError(
            f"--resume {run_dir}: checkpoints/last.pt is from another run ({differ[0]} differs from "
            "config.yaml); restore that run's checkpoints or start again with --force"
        )
    for item in overrides:
        key, _, text = item.partition("=")
        if not key.startswith("train."):
            raise UserError(f"--set {key}: only train.* keys can change on --resume (the rest would change the run)")
        raw.setdefault("train", {})[key.split(".", 1)[1]] = yaml.safe_load(text)
    return config_from_dict(raw), state


def _flat(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "kwargs" else {f"{prefix}{k}": v})
    return out
