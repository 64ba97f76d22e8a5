"""The open-set benchmark (a plan with ``verify: {pairs, images}``): every method trains on the
config's own (many-identity) data, its checkpoint is chosen on the open-set validation (identities
held out of training), and its exported student is measured on the verification pairs (LFW), the
test set that no choice ever looks at. The ``raw-pixels`` row embeds the aligned low-resolution
pixels themselves (mean-centred RGB, cosine), with no training.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text
from .plan import RAW_PIXELS as RAW
from .plan import Plan, check_methods, method_config
from .run import machine, run_method


def raw_pixel_embeddings(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each image's pixels as a vector, minus its own mean (cosine then ignores overall brightness)."""
    return {k: (v.astype(np.float32).reshape(-1) - v.mean()) for k, v in images.items()}


def _lfw(verify: dict, size: int, embeddings_of, log) -> dict:
    from ..evaluation.pair_align import aligned_pair_images
    from ..evaluation.verification import metrics_from_embeddings, parse_pairs

    pairs_file = parse_pairs(verify["pairs"])
    images, _ = aligned_pair_images(pairs_file, verify["images"], size, log)
    metrics, _ = metrics_from_embeddings(pairs_file, embeddings_of(images))
    return {
        "lfw_acc": 100 * metrics["accuracy"],
        "lfw_acc_std": 100 * metrics["accuracy_std"],
        **{f"lfw_tar@{r['far']:g}": 100 * r["tar"] for r in metrics["tar_at_far"]},
        "lfw_auc": metrics["auc"],
    }


def _onnx_embeddings(onnx_path: Path):
    from ..inference.embedder import Embedder

    embedder = Embedder(onnx_path)

    def embed(images: dict) -> dict:
        keys = list(images)
        return dict(zip(keys, embedder.embed([images[k] for k in keys])))

    return embed


def _param_counts(state_dict: dict) -> dict:
    """The deployed embedding network (backbone without its classifier) and the training-only classifier."""

    def count(keep) -> int:
        return int(
            sum(v.numel() for k, v in state_dict.items() if keep(k) and "running_" not in k and "num_batches" not in k)
        )

    return {
        "embedding_params": count(lambda k: k.startswith("backbone.") and not k.startswith("backbone.fc.")),
        "classifier_params": count(lambda k: k.startswith("backbone.fc.")),
    }


def _score_method(name: str, cfg, run_dir: Path, verify: dict, log) -> dict:
    from ..engine.checkpoint import load_checkpoint
    from ..engine.metrics_log import read_metrics
    from ..export import export_onnx

    res = run_method(name, cfg, run_dir, log)
    state = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    best = next(r for r in read_metrics(run_dir) if int(r["epoch"]) == int(state["epoch"]))
    res.update(
        {k.replace("_student", ""): v for k, v in best.items() if k.startswith("val_open_") and k.endswith("_student")}
    )
    if "student" in state["models"]:
        res.update(_param_counts(state["models"]["student"]))
        onnx_path = export_onnx(run_dir, run_dir / "export" / "student.onnx", log=lambda m: None)
        res["onnx"] = str(onnx_path)
        res.update(_lfw(verify, cfg.data.image_size, _onnx_embeddings(onnx_path), log))
    res["head"] = cfg.head.type
    log(
        f"[{name}] open-set val {res.get('val_open_acc', float('nan')):.2f}, LFW {res.get('lfw_acc', float('nan')):.2f}"
    )
    return res


def run_openset_benchmark(plan: Plan, out: Path, log=print, command: str = "") -> dict:
    """Train/score every method of the plan one after another; write OUT/results.{md,json}."""
    from ..config import load_config

    order = check_methods(plan)
    inner = Plan(plan.config, plan.data, plan.methods, plan.ablations, plan.overrides, plan.verify)
    base = load_config(plan.config, plan.overrides + ([f"data.path={plan.data}"] if plan.data else []))
    if not base.data.path or base.data.val_identities <= 0:
        raise UserError(
            "the open-set benchmark needs data (the config's data.path or the plan's data) and "
            "data.val_identities > 0 (identities held out for model choice)"
        )
    if plan.data:
        inner.overrides = inner.overrides + [f"data.path={plan.data}"]
    out.mkdir(parents=True, exist_ok=True)
    results, teacher_run = {}, None
    if RAW in plan.methods:
        results[RAW] = {
            "method": RAW,
            "description": "aligned 16x16 pixels, mean-centred, cosine (no training)",
            **_lfw(plan.verify, base.data.image_size, raw_pixel_embeddings, log),
        }
    for name in order:
        cfg = method_config(inner, name, None, teacher_run)
        results[name] = _score_method(name, cfg, out / "runs" / name, plan.verify, log)
        if name == "teacher-only":
            teacher_run = out / "runs" / name
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "data": str(base.data.path),
        "verify": plan.verify,
        "seed": base.train.seed,
        "base_config": str(plan.config) if plan.config else "built-in defaults",
        "common_overrides": plan.overrides,
        "methods": {m: results[m] for m in plan.methods if m in results},
    }
    atomic_write_json(out / "results.json", report)
    atomic_write_text(out / "results.md", openset_markdown(report))
    return report


def _f(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def openset_markdown(report: dict) -> str:
    lines = [
        "# lrface open-set benchmark: verification at low resolution",
        "",
        f"- date: {report['date']}",
        f"- machine: {report['machine']}",
        f"- training data: {report['data']}; base config: {report['base_config']}; "
        f"common overrides: {' '.join(report['common_overrides']) or 'none'}; seed {report['seed']}",
        f"- test: {report['verify']['pairs']} on {report['verify']['images']} (never used for any choice)",
    ]
    if report["command"]:
        lines.append(f"- command: `{report['command']}`")
    lines += [
        "",
        "| method | head | LFW acc (%) | sd | TAR@FAR1e-2 | TAR@FAR1e-3 | AUC | open-set val acc (%) "
        "| val TAR@1e-2 | embedding params | classifier params | best epoch | time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["methods"].items():
        lines.append(
            f"| {name} | {r.get('head', '-')} | {_f(r.get('lfw_acc'))} | {_f(r.get('lfw_acc_std'))} "
            f"| {_f(r.get('lfw_tar@0.01'))} | {_f(r.get('lfw_tar@0.001'))} | {_f(r.get('lfw_auc'), 4)} "
            f"| {_f(r.get('val_open_acc'))} | {_f(r.get('val_open_tar1e-2'))} "
            f"| {r.get('embedding_params', '-')} | {r.get('classifier_params', '-')} "
            f"| {r.get('best_epoch', '-')}/{r.get('epochs', '-')} | {_f(r.get('wall_seconds'), 0)} |"
        )
    lines += [
        "",
        "LFW: 10-fold accuracy (each fold's threshold chosen on the other nine) and its sd over folds, "
        "TAR at FAR over all 6,000 pairs, ROC AUC; the exported ONNX student of the checkpoint with the best "
        "open-set validation accuracy (verification pairs among identities held out of training). "
        "Embedding params: the deployed network; classifier params: the training-only head.",
        "",
    ]
    return "\n".join(lines)
