"""Running a benchmark: train each method (in parallel where asked), export and score its student, report."""

from __future__ import annotations

import copy
import datetime
import json
import platform
import time
from pathlib import Path

from ..engine.metrics_log import read_metrics
from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text
from ..plots import write_plots
from .freeze import freeze_data
from .plan import DESCRIPTIONS, Plan, check_methods, method_config, needs_teacher
from .report import results_markdown
from .summary import write_summary


def run_method(name: str, cfg, run_dir: Path, log) -> dict:
    """Train (or reuse a finished identical run), export the student, score it as a gallery."""
    from ..config import config_from_dict
    from ..data.sources import load_data
    from ..engine.checkpoint import load_checkpoint
    from ..engine.run_dir import prepare_run_dir
    from ..engine.trainer import Trainer

    done = run_dir / "done.json"
    # compare through the config schema, so keys added since (with their defaults) still match
    if done.is_file() and config_from_dict(json.loads(done.read_text())["config"]).to_dict() == cfg.to_dict():
        log(f"[{name}] reusing the finished run in {run_dir}")
        wall = json.loads(done.read_text())["wall_seconds"]
    else:
        data = load_data(cfg)
        prepare_run_dir(run_dir, cfg, force=True)
        log(f"[{name}] training {cfg.strategy} ({cfg.train.epochs} epochs) -> {run_dir}")
        t0 = time.perf_counter()
        trainer = Trainer(cfg, data, run_dir)
        trainer.fit()
        wall = time.perf_counter() - t0
        atomic_write_json(done, {"config": cfg.to_dict(), "wall_seconds": wall})
    rows = read_metrics(run_dir)
    state = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    best_epoch = int(state["epoch"])
    best_row = next(r for r in rows if int(r["epoch"]) == best_epoch)
    last = rows[-1]
    res = {
        "method": name,
        "strategy": cfg.strategy,
        "description": describe(name, cfg),
        "run_dir": str(run_dir),
        "epochs": int(last["epoch"]),
        "best_epoch": best_epoch,
        "train_seconds": round(sum(r["train_seconds"] for r in rows), 1),
        "wall_seconds": round(wall, 1),
        "student_arch": cfg.student.arch if "student" in state["models"] else None,
        "teacher_arch": cfg.teacher.arch if "teacher" in state["models"] else None,
    }
    for stream in ("student", "teacher"):
        if stream in state["models"]:
            res[f"{stream}_params"] = _backbone_params(state["models"][stream])
            res[f"test_top1_{stream}"] = best_row.get(f"test_top1_{stream}")
            res[f"val_top1_{stream}"] = best_row.get(f"val_top1_{stream}")
            res[f"last_test_top1_{stream}"] = last.get(f"test_top1_{stream}")
    res["final_gap"] = last.get("test_gap")
    return res


def describe(name: str, cfg) -> str:
    """The method's one-line intent and what its config actually trains (streams, terms, ramps)."""
    from ..distill.strategy import build_strategy

    return f"{DESCRIPTIONS.get(name, 'ablation of ekd')} - runs: {build_strategy(cfg).describe()}"


def _backbone_params(state_dict: dict) -> int:
    """Parameters of the backbone (what is deployed), without guided modules."""
    return int(
        sum(
            v.numel()
            for k, v in state_dict.items()
            if k.startswith("backbone.") and "running_" not in k and "num_batches" not in k
        )
    )


def gallery_eval(run_dir: Path, data_dir: Path, log) -> dict:
    """Export the val-selected student to ONNX (verified) and score train-as-gallery / test-as-probes."""
    from ..evaluation.evaluate import evaluate_packed
    from ..export import export_onnx

    onnx_path = export_onnx(run_dir, run_dir / "export" / "student.onnx", log=lambda m: None)
    result = evaluate_packed(data_dir, onnx_path, [], max_rank=20, warn=log)
    return {
        "onnx": str(onnx_path),
        "gallery_top1": 100 * result["top1"],
        "gallery_top5": 100 * result["top5"],
        "cmc": result["cmc"],
    }


def _train_and_score(name: str, cfg, run_dir: Path, data_dir: Path, log) -> dict:
    res = run_method(name, cfg, run_dir, log)
    if "student_params" in res:
        res.update(gallery_eval(run_dir, data_dir, log))
    log(
        f"[{name}] "
        + ", ".join(
            f"{k} {res[k]:.2f}"
            for k in ("test_top1_student", "test_top1_teacher", "gallery_top1")
            if res.get(k) is not None
        )
    )
    return res


def _run_methods(plan: Plan, order: list[str], data_dir: Path, out: Path, jobs: int, log) -> dict:
    """Run ``order`` in ``jobs`` processes; a method that needs the teacher-only run starts after it."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if jobs <= 1:
        results, teacher_run = {}, None
        for name in order:
            results[name] = _train_and_score(
                name, method_config(plan, name, data_dir, teacher_run), out / "runs" / name, data_dir, log
            )
            if name == "teacher-only":
                teacher_run = out / "runs" / name
        return results
    results, pending, running = {}, list(order), {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            teacher_run = out / "runs" / "teacher-only" if "teacher-only" in results else None
            for name in list(pending):
                if len(running) == jobs:
                    break
                if teacher_run is None and needs_teacher(plan.method_overrides(name)):
                    continue
                cfg = method_config(plan, name, data_dir, teacher_run)
                running[pool.submit(_train_and_score, name, cfg, out / "runs" / name, data_dir, log)] = name
                pending.remove(name)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return {name: results[name] for name in order}


def run_benchmark(
    plan: Plan, out: Path, align: bool = True, tsne_identities: int = 10, log=print, command: str = "", jobs: int = 1
) -> dict:
    """Validate, freeze data, run every method, write results.{md,json} and the pictures."""
    from ..config import load_config

    order = check_methods(plan)
    base = load_config(plan.config, plan.overrides + ([f"data.path={plan.data}"] if plan.data else []))
    if not base.data.path:
        raise UserError("no data given: pass --data (a packed set or an identity folder)")
    out.mkdir(parents=True, exist_ok=True)
    data_dir = freeze_data(base.data.path, out / "data", base, align, log)
    results = _run_methods(plan, order, data_dir, out, jobs, log)
    pictures = write_plots(results, data_dir, out, tsne_identities)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "data": {"source": base.data.path, "frozen": str(data_dir), **_split_sizes(data_dir)},
        "base_config": str(plan.config) if plan.config else "built-in defaults",
        "common_overrides": plan.overrides,
        "seed": base.train.seed,
        "methods": results,
        "pictures": pictures,
    }
    atomic_write_json(out / "results.json", report)
    atomic_write_text(out / "results.md", results_markdown(report))
    return report


def run_seeds(
    plan: Plan,
    out: Path,
    seeds: list[int],
    align: bool = True,
    tsne_identities: int = 10,
    log=print,
    command: str = "",
    jobs: int = 1,
) -> dict:
    """One benchmark per seed into OUT/seed-N (every seed on the first one's frozen train/test split),
    then OUT/summary.{md,json}: mean and sd per method, paired differences against the baselines."""
    reports = []
    for i, seed in enumerate(seeds):
        p = copy.deepcopy(plan)
        p.overrides = plan.overrides + [f"train.seed={seed}"]
        if i:
            p.data = str(out / f"seed-{seeds[0]}" / "data")
        log(f"seed {seed} ({i + 1} of {len(seeds)}) -> {out / f'seed-{seed}'}")
        reports.append(
            (
                str(out / f"seed-{seed}"),
                run_benchmark(p, out / f"seed-{seed}", align, tsne_identities, log, command, jobs),
            )
        )
    return write_summary(reports, out, command)


def _split_sizes(data_dir: Path) -> dict:
    manifest = json.loads((data_dir / "manifest.json").read_text())
    return {"identities": len(manifest["class_names"]), "splits": manifest["splits"]}


def machine() -> str:
    import os

    import torch

    return (
        f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}"
    )
