"""EKD against its baselines on one face set: same data, splits, epochs, augmentation and seeds.

Behind `lrface benchmark`. The set is frozen once into ``OUT/data`` (a packed train/test set),
every method trains on it (the validation split, for checkpoint choice, is carved from train),
its val-selected student is exported to ONNX and scored as a FAISS gallery (train split enrolled,
test split as probes), and OUT/results.{md,json} plus pictures are written.
"""

from __future__ import annotations

import copy
import csv
import datetime
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .errors import UserError
from .fileio import atomic_write_json, atomic_write_text

# Built-in methods: overrides on top of the base config (the full EKD method).
METHODS: dict[str, dict] = {
    "student-only": {"strategy": "student-only"},
    # the teacher alone on the common schedule (teacher_milestones only pace an evolutionary teacher)
    "teacher-only": {"strategy": "teacher-only", "train.select_on": "teacher", "optim.teacher_milestones": []},
    # plain Hinton KD: a fixed, trained teacher needs none of the online teacher's warm-up ramps
    "kd": {"strategy": "kd", "teacher.mode": "fixed", "teacher.guided": False, "loss.warmup_epochs": 0,
           "loss.cross_warmup_epochs": 0},
    "kd-et": {"strategy": "ekd", "guided.count": 0, "guided.blocks": []},
    "ekd": {"strategy": "ekd"},
}
DESCRIPTIONS = {
    "student-only": "the student alone, cross-entropy (the paper's Baseline)",
    "teacher-only": "the teacher alone; its best checkpoint is KD's fixed teacher",
    "kd": "Hinton KD from the fixed teacher-only checkpoint",
    "kd-et": "KD with an evolutionary (online) teacher, no guided modules",
    "ekd": "full EKD: evolutionary teacher + guided module pairs",
}
DEFAULT_METHODS = tuple(METHODS)


@dataclass
class Plan:
    """What to run: a base training config, methods in order, named ablations, common overrides."""

    config: Path | None = None
    data: str = ""
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    ablations: dict[str, dict] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)

    def method_overrides(self, name: str) -> dict:
        if name in METHODS:
            return dict(METHODS[name])
        return {**METHODS["ekd"], **self.ablations[name]}


def read_plan(path: str | Path) -> Plan:
    """A benchmark plan YAML: config (relative to the plan), data, methods, ablations, set."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"plan {path} not found; pass a file such as configs/face/celeba-wild-benchmark.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(raw) - {"config", "data", "methods", "ablations", "set"} if isinstance(raw, dict) else {"(not a mapping)"}
    if unknown:
        raise UserError(f"plan {path}: unknown keys {sorted(unknown)}; use config, data, methods, ablations, set")
    plan = Plan()
    if raw.get("config"):
        plan.config = (path.parent / raw["config"]).resolve()
    plan.data = str(raw.get("data") or "")
    if raw.get("methods"):
        plan.methods = [str(m) for m in raw["methods"]]
    for name, sets in (raw.get("ablations") or {}).items():
        if not isinstance(sets, dict):
            raise UserError(f"plan {path}: ablation {name} must map config keys to values")
        plan.ablations[str(name)] = sets
    plan.overrides = [f"{k}={json.dumps(v)}" for k, v in (raw.get("set") or {}).items()]
    return plan


def parse_ablation(text: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` -> (NAME, {key: value}) for --ablation."""
    name, sep, body = text.partition(":")
    if not sep or not name or not body:
        raise UserError(f"--ablation {text!r}: expected NAME:key=value[,key=value], e.g. ekd-g1:guided.count=1")
    sets = {}
    for item in body.split(","):
        key, eq, value = item.partition("=")
        if not eq:
            raise UserError(f"--ablation {text!r}: {item!r} is not key=value")
        sets[key.strip()] = yaml.safe_load(value)
    return name.strip(), sets


def _needs_teacher(sets: dict) -> bool:
    """KD-style methods, and ablations whose teacher.checkpoint is ``teacher-only`` (this benchmark's run)."""
    return sets.get("strategy") == "kd" or sets.get("teacher.mode") == "fixed" or sets.get("teacher.checkpoint") == "teacher-only"


def check_methods(plan: Plan) -> list[str]:
    """Validate method names; put teacher-only before the methods that need it; returns the run order."""
    known = list(METHODS) + list(plan.ablations)
    for name in plan.methods:
        if name not in known:
            raise UserError(f"unknown method {name!r}; choose from {', '.join(known)} (or add an --ablation)")
    if len(set(plan.methods)) != len(plan.methods):
        raise UserError(f"--methods lists a method twice: {','.join(plan.methods)}")
    order = [m for m in plan.methods if m != "teacher-only"]
    needs = [i for i, m in enumerate(order) if _needs_teacher(plan.method_overrides(m))]
    wanted = needs + ([plan.methods.index("teacher-only")] if "teacher-only" in plan.methods else [])
    if wanted:
        order.insert(min(wanted), "teacher-only")
    return order


def method_config(plan: Plan, name: str, data_dir: Path, teacher_run: Path | None):
    from .config import load_config

    sets = plan.method_overrides(name)
    if _needs_teacher(sets):
        if teacher_run is None:
            raise UserError(f"method {name} needs the teacher-only run first")
        sets["teacher.checkpoint"] = str(teacher_run)
    overrides = list(plan.overrides) + [f"{k}={json.dumps(v)}" for k, v in sets.items()]
    overrides += [f"data.path={data_dir}", "data.kind=packed", f"name={name}"]
    return load_config(plan.config, overrides)


# --- data ------------------------------------------------------------------------------------
def freeze_data(source: str, out: Path, base_cfg, align: bool, log) -> Path:
    """Write the benchmark's packed train/test set to ``out`` (aligning an identity folder first).

    Identities with too few images to be tested stay in as training-only classes; an identical
    set already at ``out`` is left untouched, so that concurrent or repeated benchmarks share it.
    """
    from .config import load_config
    from .data.packed import is_packed_set, write_packed_set
    from .data.sources import load_data

    src = Path(source).expanduser()
    if not src.exists():
        raise UserError(f"data {src} does not exist; pass a packed set or an identity folder")
    d = base_cfg.data
    if not is_packed_set(src) and align:
        try:
            from data_prep.pipeline import PrepareConfig, prepare
            from data_prep.readers import read_folder
        except ImportError:
            raise UserError("aligning an identity folder needs data_prep (a source checkout); "
                            "pass --no-align to resize whole images instead") from None
        aligned, items = out.parent / "aligned", read_folder(src)
        pcfg = PrepareConfig(size=d.image_size, seed=base_cfg.train.seed, force=True)
        if _prepared_from(aligned, src, pcfg, len(items)):
            log(f"reusing {aligned} (aligned from {src} with the same options)")
        else:
            log(f"aligning {src} with data_prep (MTCNN) into {aligned}")
            prepare(items, aligned, pcfg, kind="folder", root=src, log=log)
        src = aligned
    cfg = load_config(None, [f"data.path={src}", "data.kind=auto", "data.val_fraction=0",
                                "data.min_per_class=1"],
                      base=copy.deepcopy(base_cfg.to_dict()))
    bundle = load_data(cfg)
    check_split_sizes(bundle, d.test_fraction, d.val_fraction, str(source))
    items = [{"split": s, "index": i, "label": int(lb), "identity": bundle.class_names[int(lb)],
              "source": str(src), "status": "ok"}
             for s, (_, labels) in bundle.splits.items() for i, lb in enumerate(labels)]
    if _same_packed_set(out, bundle):
        return out
    write_packed_set(out, {s: bundle.splits[s] for s in ("train", "test")}, bundle.class_names, items,
                     params={"benchmark_seed": base_cfg.train.seed, "test_fraction": d.test_fraction},
                     source=str(source))
    return out


def _prepared_from(aligned: Path, src: Path, pcfg, n_items: int) -> bool:
    """Whether ``aligned`` is a finished data_prep set of the same folder, options and file count."""
    from .data.packed import is_packed_set

    if not is_packed_set(aligned):
        return False
    m = json.loads((aligned / "manifest.json").read_text(encoding="utf-8"))
    params = m.get("params", {})
    same = all(params.get(k) == v for k, v in pcfg.processing().items())
    return same and m.get("source") == str(src.resolve()) and sum(params.get("status_counts", {}).values()) == n_items


def _same_packed_set(out: Path, bundle) -> bool:
    from .data.packed import is_packed_set, read_packed_set

    if not is_packed_set(out):
        return False
    ps = read_packed_set(out, mmap=False)
    return ps.class_names == bundle.class_names and set(ps.splits) == {"train", "test"} and all(
        np.array_equal(ps.splits[s][i], bundle.splits[s][i]) for s in ("train", "test") for i in (0, 1))


def min_images(test_fraction: float, val_fraction: float) -> int:
    """Fewest images an identity needs for >= 1 test and >= 1 val image (if val is used) under the split."""
    n = 2
    while True:
        k = min(int(round(test_fraction * n)), n - 1)
        if k >= 1 and (val_fraction == 0 or min(int(round(val_fraction * (n - k))), n - k - 1) >= 1):
            return n
        n += 1


def check_split_sizes(bundle, test_fraction: float, val_fraction: float, source: str) -> None:
    """UserError unless two identities have train and test images and the val split is not empty."""
    from .data.splits import per_class_split

    tr_labels = np.asarray(bundle.splits["train"][1])
    te_labels = np.asarray(bundle.splits["test"][1])
    ok = set(np.unique(tr_labels).tolist()) & set(np.unique(te_labels).tolist())
    if val_fraction > 0 and len(per_class_split(tr_labels, val_fraction, 0)[1]) == 0:
        ok = set()
    if len(ok) < 2:
        counts = np.bincount(np.concatenate([tr_labels, te_labels]))
        raise UserError(f"{source}: too few images per identity for the split: test_fraction {test_fraction} "
                        f"and val_fraction {val_fraction} need {min_images(test_fraction, val_fraction)} images "
                        f"per identity, the largest identity has {counts.max()}; add images or lower the fractions")


# --- one method --------------------------------------------------------------------------------
def read_metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]


def run_method(name: str, cfg, run_dir: Path, log) -> dict:
    """Train (or reuse a finished identical run), export the student, score it as a gallery."""
    from .config import config_from_dict
    from .data.sources import load_data
    from .engine.checkpoint import load_checkpoint
    from .engine.trainer import Trainer, prepare_run_dir

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
    res = {"method": name, "strategy": cfg.strategy, "description": DESCRIPTIONS.get(name, "ablation of ekd"),
           "run_dir": str(run_dir), "epochs": int(last["epoch"]), "best_epoch": best_epoch,
           "train_seconds": round(sum(r["train_seconds"] for r in rows), 1), "wall_seconds": round(wall, 1),
           "student_arch": cfg.student.arch if "student" in state["models"] else None,
           "teacher_arch": cfg.teacher.arch if "teacher" in state["models"] else None}
    for stream in ("student", "teacher"):
        if stream in state["models"]:
            res[f"{stream}_params"] = _backbone_params(state["models"][stream])
            res[f"test_top1_{stream}"] = best_row.get(f"test_top1_{stream}")
            res[f"val_top1_{stream}"] = best_row.get(f"val_top1_{stream}")
            res[f"last_test_top1_{stream}"] = last.get(f"test_top1_{stream}")
    res["final_gap"] = last.get("test_gap")
    return res


def _backbone_params(state_dict: dict) -> int:
    """Parameters of the backbone (what is deployed), without guided modules."""
    return int(sum(v.numel() for k, v in state_dict.items()
                   if k.startswith("backbone.") and "running_" not in k and "num_batches" not in k))


def gallery_eval(run_dir: Path, data_dir: Path, log) -> dict:
    """Export the val-selected student to ONNX (verified) and score train-as-gallery / test-as-probes."""
    from .export import export_onnx
    from .inference.evaluate import evaluate_packed

    onnx_path = export_onnx(run_dir, run_dir / "export" / "student.onnx", log=lambda m: None)
    result = evaluate_packed(data_dir, onnx_path, [], max_rank=20, warn=log)
    return {"onnx": str(onnx_path), "gallery_top1": 100 * result["top1"], "gallery_top5": 100 * result["top5"],
            "cmc": result["cmc"]}


def _train_and_score(name: str, cfg, run_dir: Path, data_dir: Path, log) -> dict:
    res = run_method(name, cfg, run_dir, log)
    if "student_params" in res:
        res.update(gallery_eval(run_dir, data_dir, log))
    log(f"[{name}] " + ", ".join(f"{k} {res[k]:.2f}" for k in ("test_top1_student", "test_top1_teacher",
                                                                "gallery_top1") if res.get(k) is not None))
    return res


def _run_methods(plan: Plan, order: list[str], data_dir: Path, out: Path, jobs: int, log) -> dict:
    """Run ``order`` in ``jobs`` processes; a method that needs the teacher-only run starts after it."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if jobs <= 1:
        results, teacher_run = {}, None
        for name in order:
            results[name] = _train_and_score(name, method_config(plan, name, data_dir, teacher_run),
                                             out / "runs" / name, data_dir, log)
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
                if teacher_run is None and _needs_teacher(plan.method_overrides(name)):
                    continue
                cfg = method_config(plan, name, data_dir, teacher_run)
                running[pool.submit(_train_and_score, name, cfg, out / "runs" / name, data_dir, log)] = name
                pending.remove(name)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return {name: results[name] for name in order}


# --- the whole benchmark -----------------------------------------------------------------------
def run_benchmark(plan: Plan, out: Path, align: bool = True, tsne_identities: int = 10, log=print,
                  command: str = "", jobs: int = 1) -> dict:
    """Validate, freeze data, run every method, write results.{md,json} and the pictures."""
    from .config import load_config

    order = check_methods(plan)
    base = load_config(plan.config, plan.overrides + ([f"data.path={plan.data}"] if plan.data else []))
    if not base.data.path:
        raise UserError("no data given: pass --data (a packed set or an identity folder)")
    out.mkdir(parents=True, exist_ok=True)
    data_dir = freeze_data(base.data.path, out / "data", base, align, log)
    results = _run_methods(plan, order, data_dir, out, jobs, log)
    from .plots import write_plots

    pictures = write_plots(results, data_dir, out, tsne_identities)
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": machine(), "command": command, "data": {"source": base.data.path, "frozen": str(data_dir),
                                                                  **_split_sizes(data_dir)},
              "base_config": str(plan.config) if plan.config else "built-in defaults", "common_overrides": plan.overrides,
              "seed": base.train.seed, "methods": results,
              "pictures": pictures}
    atomic_write_json(out / "results.json", report)
    atomic_write_text(out / "results.md", results_markdown(report))
    return report


# --- several seeds -----------------------------------------------------------------------------
SUMMARY_METRICS = {"test_top1_student": "student top-1", "gallery_top1": "gallery top-1",
                   "test_top1_teacher": "teacher top-1"}
PAIRED_BASELINES = ("student-only", "kd")


def run_seeds(plan: Plan, out: Path, seeds: list[int], align: bool = True, tsne_identities: int = 10, log=print,
              command: str = "", jobs: int = 1) -> dict:
    """One benchmark per seed into OUT/seed-N (every seed on the first one's frozen train/test split),
    then OUT/summary.{md,json}: mean and sd per method, paired differences against the baselines."""
    reports = []
    for i, seed in enumerate(seeds):
        p = copy.deepcopy(plan)
        p.overrides = plan.overrides + [f"train.seed={seed}"]
        if i:
            p.data = str(out / f"seed-{seeds[0]}" / "data")
        log(f"seed {seed} ({i + 1} of {len(seeds)}) -> {out / f'seed-{seed}'}")
        reports.append((str(out / f"seed-{seed}"), run_benchmark(p, out / f"seed-{seed}", align, tsne_identities,
                                                                log, command, jobs)))
    return write_summary(reports, out, command)


def read_reports(dirs: list[str]) -> list[tuple[str, dict]]:
    """(directory, results.json) of finished benchmarks, for a summary without training."""
    out = []
    for d in dirs:
        f = Path(d) / "results.json"
        if not f.is_file():
            raise UserError(f"{d}: no results.json; pass directories written by `lrface benchmark --out`")
        try:
            out.append((d, json.loads(f.read_text(encoding="utf-8"))))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{f}: not valid JSON (truncated?); re-run that benchmark to rewrite it") from None
    return out


def _stats(values: list[float]) -> dict:
    """Mean, sample sd and the 95 % Student-t interval of the mean (no interval for one value)."""
    a = np.asarray(values, np.float64)
    out = {"n": len(a), "values": [float(v) for v in a], "mean": float(a.mean()),
           "sd": float(a.std(ddof=1)) if len(a) > 1 else None, "ci95": None}
    if len(a) > 1:
        from scipy.stats import t

        half = float(t.ppf(0.975, len(a) - 1) * out["sd"] / np.sqrt(len(a)))
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def summarize(reports: list[tuple[str, dict]]) -> dict:
    """Per method and metric, the values over the runs; paired student top-1 differences (same seed,
    same test split) of every method against student-only and kd, with wins counted."""
    names = list(dict.fromkeys(n for _, r in reports for n in r["methods"]))
    runs = [{"dir": d, "seed": r.get("seed"), "command": r.get("command", "")} for d, r in reports]
    methods = {}
    for name in names:
        entry = {"description": next(r["methods"][name]["description"] for _, r in reports if name in r["methods"])}
        for key in SUMMARY_METRICS:
            values = [r["methods"][name][key] for _, r in reports
                      if name in r["methods"] and r["methods"][name].get(key) is not None]
            if values:
                entry[key] = _stats(values)
        methods[name] = entry
    paired = {}
    for base in PAIRED_BASELINES:
        for name in names:
            both = [r["methods"] for _, r in reports if name in r["methods"] and base in r["methods"]]
            diffs = [m[name]["test_top1_student"] - m[base]["test_top1_student"] for m in both
                     if name != base and m[name].get("test_top1_student") is not None]
            if diffs:
                paired.setdefault(base, {})[name] = {**_stats(diffs), "wins": sum(d > 0 for d in diffs)}
    return {"runs": runs, "methods": methods, "paired_student_top1": paired}


def _ms(st: dict | None) -> str:
    if st is None:
        return "-"
    return f"{st['mean']:.2f}" + (f" ({st['sd']:.2f})" if st["sd"] is not None else "")


def summary_markdown(summary: dict, command: str = "") -> str:
    runs = summary["runs"]
    lines = [f"# lrface benchmark over {len(runs)} runs", "",
             "- runs: " + ", ".join(f"{r['dir']} (seed {r['seed'] if r['seed'] is not None else '?'})" for r in runs)]
    if command:
        lines.append(f"- command: `{command}`")
    lines += ["", "| method | runs | student top-1 mean (sd) | student top-1 per run | gallery top-1 mean (sd) "
                  "| teacher top-1 mean (sd) |", "|---|---:|---:|---|---:|---:|"]
    for name, m in summary["methods"].items():
        st = m.get("test_top1_student")
        n = max((m[k]["n"] for k in SUMMARY_METRICS if k in m), default=0)
        lines.append(f"| {name} | {n} | {_ms(st)} | {' / '.join(f'{v:.2f}' for v in st['values']) if st else '-'} "
                     f"| {_ms(m.get('gallery_top1'))} | {_ms(m.get('test_top1_teacher'))} |")
    paired = summary["paired_student_top1"]
    if paired:
        bases = list(paired)
        lines += ["", "Paired differences in student top-1 (points; the same seed and test split): mean, "
                      "95 % t-interval of the mean, and the runs where the method is higher.", "",
                  "| method | " + " | ".join(f"vs {b}" for b in bases) + " |", "|---|" + "---:|" * len(bases)]
        for name in summary["methods"]:
            cells = []
            for b in bases:
                d = paired[b].get(name)
                if d is None:
                    cells.append("-")
                    continue
                ci = f" [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]" if d["ci95"] else ""
                cells.append(f"{d['mean']:+.2f}{ci}, {d['wins']}/{d['n']}")
            if any(c != "-" for c in cells):
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Top-1 values are percentages on each run's test split (checkpoint chosen on validation); "
                  "sd is the sample standard deviation over runs.", ""]
    return "\n".join(lines)


def write_summary(reports: list[tuple[str, dict]], out: Path, command: str = "") -> dict:
    summary = summarize(reports)
    summary["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", summary_markdown(summary, command))
    return summary


def _split_sizes(data_dir: Path) -> dict:
    manifest = json.loads((data_dir / "manifest.json").read_text())
    return {"identities": len(manifest["class_names"]), "splits": manifest["splits"]}


def machine() -> str:
    import os

    import torch

    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}")


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def results_markdown(report: dict) -> str:
    """The side-by-side table and what each column means."""
    d = report["data"]
    lines = [
        "# lrface benchmark: EKD against its baselines", "",
        f"- date: {report['date']}", f"- machine: {report['machine']}",
        f"- data: {d['source']} frozen into {d['frozen']} ({d['identities']} identities; "
        + ", ".join(f"{k} {v}" for k, v in d["splits"].items()) + ")",
        f"- base config: {report['base_config']}; common overrides: {' '.join(report['common_overrides']) or 'none'}",
    ]
    if report["command"]:
        lines.append(f"- command: `{report['command']}`")
    lines += ["", "| method | student top-1 (test, %) | gallery top-1 (test vs train, %) | teacher top-1 (test, %) "
                  "| final gap (teacher - student, points) | student params | teacher params | best epoch (val) "
                  "| training time (s) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["methods"].items():
        lines.append(f"| {name} | {_fmt(r.get('test_top1_student'))} | {_fmt(r.get('gallery_top1'))} "
                     f"| {_fmt(r.get('test_top1_teacher'))} | {_fmt(r.get('final_gap'))} "
                     f"| {r.get('student_params') or '-'} | {r.get('teacher_params') or '-'} "
                     f"| {r['best_epoch']}/{r['epochs']} | {r['wall_seconds']:.0f} |")
    lines += ["", "Columns: top-1 on the test split of the checkpoint chosen on the validation split "
                  "(carved from the training identities' training images; the test split is never used for choices); "
                  "gallery top-1 runs the exported ONNX student with the train split enrolled (mean template, "
                  "FAISS) and the test images as probes; the gap is teacher minus student top-1 at the last epoch; "
                  "parameters count the deployed backbone + classifier; time is wall-clock training + evaluation.", "",
              "Methods:"]
    lines += [f"- {n}: {r['description']}" for n, r in report["methods"].items()]
    lines += ["", "Pictures: " + ", ".join(f"[{p}]({p})" for p in report["pictures"]), ""]
    return "\n".join(lines)


def log_stderr(msg: str) -> None:
    print(f"lrface benchmark: {msg}", file=sys.stderr, flush=True)
