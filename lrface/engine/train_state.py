"""What a trainer's checkpoint holds (format in checkpoint.py) and how a resumed trainer takes it back.

Everything an epoch boundary needs for a bit-identical resume: the streams, the HR projection, the weight
average, the embedding-KD memory, optimizers, schedulers, counters, the best score so far and the RNG states.
"""

from __future__ import annotations

import torch

from .build import restore_ema


def trainer_state(t) -> dict:
    """``t``: a Trainer at an epoch boundary."""
    return {
        "config": t.cfg.to_dict(),
        "class_names": t.data.class_names,
        "preprocess": t.spec.to_dict(),
        "epoch": t.epoch,
        "step": t.step,
        "best": t.best,
        "best_epoch": t.best_epoch,
        "models": {s: m.state_dict() for s, m in t.streams.items()},
        "hr": t.hr.state_dict() if t.hr is not None else {},
        "ema": t.ema.state_dict() if t.ema is not None else {},
        "embed_kd": t.embed_kd.state_dict() if t.embed_kd is not None else {},
        "optimizers": {s: o.state_dict() for s, o in t.optimizers.items()},
        "schedulers": {s: o.state_dict() for s, o in t.schedulers.items()},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if t.device.type == "cuda" else [],
        },
    }


def restore_trainer(t, state: dict) -> None:
    """Load ``state`` (from ``trainer_state``) into a freshly built Trainer ``t`` of the same config."""
    for s, m in t.streams.items():
        m.load_state_dict(state["models"][s])
    if t.hr is not None:
        t.hr.load_state_dict(state["hr"])
    if t.ema is not None:
        restore_ema(t.ema, state.get("ema"))
    if t.embed_kd is not None:
        t.embed_kd.load_state_dict(state.get("embed_kd", {}))
    for s, o in t.optimizers.items():
        o.load_state_dict(state["optimizers"][s])
    for s, o in t.schedulers.items():
        o.load_state_dict(state["schedulers"][s])
    t.epoch, t.step = int(state["epoch"]), int(state["step"])
    t.best, t.best_epoch = float(state["best"]), int(state["best_epoch"])
    torch.set_rng_state(state["rng"]["torch"])
    if t.device.type == "cuda" and state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
