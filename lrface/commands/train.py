"""`lrface train`: EKD (or a baseline) training into a resumable run directory."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from . import add_set_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a student with EKD (or a baseline) from a YAML config",
        description="Train teacher and student streams as the config says (strategy ekd, "
        "student-only, teacher-only, kd, byot). Writes config.yaml, metrics.csv, tb/ "
        "and checkpoints/{last,best}.pt into the run directory.",
    )
    p.add_argument("--config", help="YAML config, e.g. configs/face/orl-smoke.yaml")
    p.add_argument("--data", help="packed set or identity folder (default: $LRFACE_DATA, then data.path)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    add_set_option(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from checkpoints/last.pt")
    p.add_argument(
        "--init",
        metavar="RUN_DIR",
        help="transfer: start from RUN_DIR's weights (student and teacher, "
        "same architectures) with fresh classifiers (= init.run)",
    )
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..engine.run_dir import resume_state
    from ..errors import UserError
    from ..fileio import check_not_input, claim_output

    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun's other ranks share rank 0's run directory
    with contextlib.ExitStack() as stack:
        if args.resume:
            if args.config or args.data or args.init:
                raise UserError("--resume takes its config, data and init from the run; drop --config/--data/--init")
            run_dir = Path(args.resume)
            if main_rank:
                stack.enter_context(claim_output(run_dir, "--resume"))
            cfg, state = resume_state(run_dir, args.overrides)
        else:
            if not args.config:
                raise UserError("pass --config FILE (e.g. configs/face/orl-smoke.yaml) or --resume RUN_DIR")
            overrides = list(args.overrides)
            data = args.data or os.environ.get("LRFACE_DATA")
            if data:
                overrides.append(f"data.path={data}")
            if args.init:
                overrides.append(f"init.run={args.init}")
            cfg = load_config(args.config, overrides)
            run_dir = Path(args.out or Path("runs") / cfg.name)
            state = None
            check_not_input(run_dir, run_inputs(cfg))
            if not args.out and main_rank:  # the CLI claims an explicit --out
                stack.enter_context(claim_output(run_dir, "the run directory"))
        return _train(args, cfg, state, run_dir)


def run_inputs(cfg) -> list[tuple[str, str]]:
    """(config key, path) of what a run reads: its data, the run it starts from, a fixed teacher, a frozen model."""
    from ..data.exclude import source_paths
    from ..distill.embed_kd import wanted
    from ..pretrained import resolve_model

    e = cfg.embed_kd
    paths = [("data.path", p) for p in (cfg.data.path if isinstance(cfg.data.path, list) else [cfg.data.path])]
    paths += [
        (key, p)
        for key, v in (("data.exclude", cfg.data.exclude), ("embed_kd.unlabeled", e.unlabeled))
        for p in source_paths(v, key)
    ]
    return [
        (k, str(p))
        for k, p in [
            *paths,
            ("init.run", cfg.init.run),
            ("teacher.checkpoint", cfg.teacher.checkpoint),
            ("embed_kd.model", str(resolve_model(e.model)) if wanted(cfg) else ""),
        ]
        if p
    ]


def _train(args: argparse.Namespace, cfg, state, run_dir: Path) -> int:
    from ..data.sources import load_data
    from ..distill import embed_kd
    from ..engine.build import select_device
    from ..engine.distributed import barrier, init_distributed
    from ..engine.run_dir import prepare_run_dir
    from ..engine.speed import check_switches
    from ..engine.trainer import Trainer
    from ..errors import UserError

    check_switches(cfg, select_device(cfg.train.device))  # fail before anything is written
    if embed_kd.wanted(cfg):
        embed_kd.frozen_model(cfg)  # it loads and reads this config's preprocessing
    if cfg.init.run and state is None:
        from ..engine.transfer import init_state

        init_state(cfg)
    data = load_data(cfg)
    dist = init_distributed(cfg.train.device)
    if state is None and dist.main:
        prepare_run_dir(run_dir, cfg, args.force)
    barrier(dist)
    trainer = Trainer(cfg, data, run_dir, dist)
    if state is not None:
        if list(state["class_names"]) != data.class_names:
            raise UserError(
                f"--resume {run_dir}: the data's classes changed since the run started; point data.path back"
            )
        trainer.load_state_dict(state)
    sizes = ", ".join(f"{k} {len(v[1])}" for k, v in data.splits.items())
    procs = f" x {dist.world} processes" if dist.enabled else ""
    if dist.main:
        print(
            f"lrface train: {cfg.strategy} on {data.source} ({data.num_classes} classes; {sizes}) "
            f"on {trainer.device}{procs} -> {run_dir}"
        )
    trainer.fit()
    barrier(dist)
    if dist.main:
        measure = "top-1"
        if trainer.open_set is not None:
            measure = {"acc": "open-set validation accuracy", "dense_tar1e-3": "open-set dense TAR@1e-3"}[
                cfg.train.select_metric
            ]
        print(
            f"lrface train: done after epoch {trainer.epoch}; best {trainer.select_stream} {measure} "
            f"{trainer.best:.2f} at epoch {trainer.best_epoch}; checkpoints in {run_dir / 'checkpoints'}"
        )
    return 0
