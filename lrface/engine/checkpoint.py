"""Checkpoints: atomic save, ``weights_only=True`` load, and the student extractor used by export.

Format ``lrface-ckpt/1``: a dict with config, class_names, preprocess, epoch, step, models
(per stream: the Stream state_dict, backbone weights under ``backbone.``), ema (the student's
weight average as torch's AveragedModel state, ``module.`` + the Stream keys; empty without
train.ema_decay), hr, embed_kd (the memory of embed_kd.memory and the projection of embed_kd.point; empty
without them), optimizers, schedulers, rng, best, best_epoch. Gathered and restored by train_state.py.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch

from ..errors import UserError
from ..fileio import atomic_write, write_file

FORMAT = "lrface-ckpt/1"


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Serialise in memory, then write atomically with Python's own I/O, so that a full disk or a read-only folder
    is an OSError naming ``path`` (torch's writer reports it as a RuntimeError) and the old file stays."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write(path, lambda p: write_file(p, buf.getbuffer()))


def load_checkpoint(path: str | Path) -> dict:
    """Load with ``weights_only=True``; truncated or foreign files become a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found; pass a run directory or a .pt written by `lrface train`")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes; an interrupted copy?); use another checkpoint or retrain")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        ValueError,
        OSError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
    ) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise UserError(
            f"{path}: truncated or not a PyTorch checkpoint ({why}); use another checkpoint or retrain"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(
            f"{path}: not an lrface checkpoint (expected format {FORMAT}); pass one written by `lrface train`"
        )
    return state


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A run directory -> its checkpoints/{best,last}.pt; a file is returned as is."""
    path = Path(path)
    if path.is_dir():
        for name in (which, "last", "best"):
            cand = path / "checkpoints" / f"{name}.pt"
            if cand.is_file():
                return cand
        raise UserError(f"{path}: no checkpoints/best.pt or last.pt, so not a training run directory")
    return path


def load_student(path: str | Path, which: str = "best", ema: bool | None = None):
    """Student backbone (eval mode, forward -> (logits, feature)) and its metadata, from a run or a .pt;
    ``ema``: the student's weight average (train.ema_decay) instead of its weights; None: the one that
    picked best.pt (train.select_on)."""
    from ..models import build_model
    from ..models.heads import attach_head

    ckpt_path = resolve_checkpoint(path, which)
    state = load_checkpoint(ckpt_path)
    cfg = state["config"]
    sd = state["models"].get("student")
    if sd is None:
        raise UserError(
            f"{ckpt_path}: this run trained no student (strategy {cfg.get('strategy')}); export a student run"
        )
    selected = cfg.get("train", {}).get("select_on") == "student_ema"
    ema = selected if ema is None else ema
    if ema:
        if not state.get("ema"):
            raise UserError(f"{ckpt_path}: this run kept no weight average (train.ema_decay 0); export without --ema")
        sd = {k[len("module.") :]: v for k, v in state["ema"].items() if k.startswith("module.")}
    class_names = list(state["class_names"])
    model = build_model(cfg["student"]["arch"], num_classes=len(class_names), **cfg["student"].get("kwargs", {}))
    head = cfg.get("head") or {}
    attach_head(model, head.get("type", "softmax"), head.get("s", 1.0))
    model.load_state_dict({k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")})
    model.eval()
    meta = {
        "arch": cfg["student"]["arch"],
        "num_classes": len(class_names),
        "class_names": class_names,
        "preprocess": state["preprocess"],
        "embedding_dim": int(model.feature_dim),
        "config": cfg,
        "checkpoint": str(ckpt_path),
        "epoch": int(state["epoch"]),
        "ema_decay": float(cfg["train"]["ema_decay"]) if ema else 0.0,
        "selected": ema == selected,  # the stream that train.select_on validated for best.pt
    }
    return model, meta
