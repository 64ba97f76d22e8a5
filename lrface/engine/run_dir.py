"""The run directory: create it, resume from its last checkpoint, and what every epoch writes into it
(a metrics.csv row, TensorBoard scalars, ``checkpoints/last.pt`` and ``best.pt`` on a new best score)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from ..config import Config, config_from_dict, read_yaml_mapping, yaml_value
from ..config.rules import check_config
from ..errors import UserError
from ..fileio import atomic_write_text
from .checkpoint import load_checkpoint, save_checkpoint
from .metrics_log import append_metrics, epoch_summary, write_scalars


def prepare_run_dir(run_dir: Path, cfg: Config, force: bool) -> None:
    """Create a fresh run directory; refuse one that exists and is not empty unless ``force``. One holding only
    config.yaml is a start that failed before any work (a bad model kwarg, say) and is simply replaced."""
    if run_dir.exists() and {p.name for p in run_dir.iterdir()} - {"config.yaml"}:
        if not force:
            what = (
                "is a run; continue it with --resume"
                if (run_dir / "checkpoints").is_dir()
                else "exists, is not empty and is not a run; choose another --out"
            )
            raise UserError(f"output directory {run_dir} {what}, or pass --force to overwrite it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


FIXED_ON_RESUME = {
    "train.seed": "it drew the train/test split and the held-out people: a new one would test on trained faces",
    "train.select_on": "best.pt so far was picked by it",
    "train.select_metric": "best.pt so far was picked by it",
}


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
        if key in FIXED_ON_RESUME:
            raise UserError(f"--set {key}: cannot change on --resume ({FIXED_ON_RESUME[key]}); start a new run")
        raw.setdefault("train", {})[key.split(".", 1)[1]] = yaml_value(text, f"--set {item!r}")
    cfg = config_from_dict(raw)
    check_config(cfg)
    return cfg, state


def _flat(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "kwargs" else {f"{prefix}{k}": v})
    return out


def end_epoch(trainer, row: dict, eval_split: str, writer) -> None:
    """Append the row to metrics.csv/TensorBoard and save last.pt (and best.pt on a new best score)."""
    from .openset import SELECT_KEYS

    key = SELECT_KEYS[trainer.cfg.train.select_metric] if trainer.open_set is not None else f"{eval_split}_top1"
    score = row[f"{key}_{trainer.select_stream}"]
    if not trainer.dist.main:
        trainer.best = max(trainer.best, score)
        return
    append_metrics(trainer.run_dir, row)
    write_scalars(writer, row)
    improved = score >= trainer.best  # on ties the later (longer-trained) epoch wins
    if improved:
        trainer.best, trainer.best_epoch = score, trainer.epoch
    state = trainer.state_dict()
    if improved:  # before last.pt: a run killed between the two replays this epoch and writes best.pt again
        save_checkpoint(state, trainer.run_dir / "checkpoints" / "best.pt")
    if trainer.cfg.train.keep_epochs:
        save_checkpoint(state, trainer.run_dir / "checkpoints" / f"epoch-{trainer.epoch}.pt")
    save_checkpoint(state, trainer.run_dir / "checkpoints" / "last.pt")
    print(epoch_summary(row, eval_split), file=sys.stderr)
