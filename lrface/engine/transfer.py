"""Transfer (the paper's face protocol: train on a large set, recognise a small one): ``init.run``
starts each stream from a trained run's weights, every classifier fresh for the new identities.

What is copied: every weight of a stream that the earlier run also trained, except the classifiers
(the backbone's ``fc`` and each guided module's ``fc``), whose rows belong to the old identities. A
stream the earlier run lacks (e.g. the teacher after a student-only run) starts as configured.
"""

from __future__ import annotations

from pathlib import Path

from ..distill.strategy import build_strategy
from ..errors import UserError
from .checkpoint import load_checkpoint, resolve_checkpoint


def _is_classifier(key: str) -> bool:
    return key.startswith("backbone.fc.") or (key.startswith("guided.") and ".fc." in key)


def init_state(cfg) -> tuple[Path, dict]:
    """The checkpoint of ``init.run`` after checking that the streams this config trains match its architectures
    (a stream this config does not train, e.g. the teacher of an EKD run read by a student-only config, is ignored)."""
    path = resolve_checkpoint(cfg.init.run, cfg.init.which)
    state = load_checkpoint(path)
    old = state["config"]
    strategy = build_strategy(cfg)
    for stream in state["models"]:
        if stream not in ("teacher", "student") or not strategy.trains(stream):
            continue
        want, have = getattr(cfg, stream), old.get(stream, {})
        if (have.get("arch"), have.get("kwargs") or {}) != (want.arch, want.kwargs):
            raise UserError(
                f"--init {cfg.init.run}: its {stream} is {have.get('arch')} {have.get('kwargs') or {}}, this "
                f"config's is {want.arch} {want.kwargs}; set {stream}.arch/{stream}.kwargs to match"
            )
    return path, state


def apply_init(streams: dict, cfg, log=print) -> None:
    """Copy the matching non-classifier weights of ``init.run`` into ``streams`` (see the module docstring)."""
    path, state = init_state(cfg)
    for name, model in streams.items():
        sd = state["models"].get(name)
        if sd is None:
            log(f"lrface train: --init {path} has no {name}; the {name} starts as configured")
            continue
        own = model.state_dict()
        take = {k: v for k, v in sd.items() if not _is_classifier(k) and k in own}
        bad = [k for k, v in take.items() if v.shape != own[k].shape]
        if bad:
            raise UserError(
                f"--init {path}: {name} weight {bad[0]} has shape {tuple(take[bad[0]].shape)}, this "
                f"model's is {tuple(own[bad[0]].shape)}; the architectures differ"
            )
        model.load_state_dict(take, strict=False)
        fresh = sum(1 for k in own if k not in take)
        log(f"lrface train: {name} starts from {path} ({len(take)} tensors; {fresh} fresh, classifiers included)")
