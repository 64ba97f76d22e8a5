"""What a benchmark runs: the built-in methods, plans (YAML), ablations, run order and each method's config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import read_yaml_mapping, yaml_value
from ..errors import UserError

# Built-in methods: overrides on top of the base config (the full EKD method).
METHODS: dict[str, dict] = {
    "student-only": {"strategy": "student-only"},
    # the paper's KD teacher: a plain network trained alone (cross-entropy only, no guided modules), on the
    # common schedule (teacher_milestones only pace an evolutionary teacher)
    "teacher-only": {
        "strategy": "teacher-only",
        "teacher.guided": False,
        "train.select_on": "teacher",
        "optim.teacher_milestones": [],
    },
    # plain Hinton KD: a fixed, trained teacher needs none of the online teacher's warm-up ramps
    "kd": {
        "strategy": "kd",
        "teacher.mode": "fixed",
        "teacher.guided": False,
        "loss.warmup_epochs": 0,
        "loss.cross_warmup_epochs": 0,
    },
    "kd-et": {"strategy": "ekd", "guided.count": 0, "guided.blocks": []},
    "ekd": {"strategy": "ekd"},
}
# What each built-in method is; the report adds what its config actually trains (Strategy.describe).
DESCRIPTIONS = {
    "student-only": "the student alone (the paper's Baseline)",
    "teacher-only": "the teacher alone, plain (the paper's pre-trained KD teacher); its best checkpoint is KD's teacher",
    "kd": "Hinton KD from the fixed teacher-only checkpoint",
    "kd-et": "EKD without guided modules: KD from an evolutionary (online) teacher",
    "ekd": "EKD: evolutionary teacher + guided module pairs",
}
DEFAULT_METHODS = tuple(METHODS)
RAW_PIXELS = "raw-pixels"  # the open-set benchmark's untrained row (benchmark/openset.py)


@dataclass
class Plan:
    """What to run: a base training config, methods in order, named ablations, common overrides."""

    config: Path | None = None
    data: str = ""
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    ablations: dict[str, dict] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    verify: dict = field(default_factory=dict)  # {pairs, images}: the open-set benchmark (benchmark/openset.py)

    def method_overrides(self, name: str) -> dict:
        if name in METHODS:
            return dict(METHODS[name])
        return {**METHODS["ekd"], **self.ablations[name]}


def read_plan(path: str | Path) -> Plan:
    """A benchmark plan YAML: config (relative to the plan), data, methods, ablations, set."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"plan {path} not found; pass a file such as configs/face/celeba-wild-benchmark.yaml")
    raw = read_yaml_mapping(path, "plan")
    keys = {"config", "data", "methods", "ablations", "set", "verify"}
    unknown = set(raw) - keys
    if unknown:
        raise UserError(f"plan {path}: unknown keys {sorted(unknown)}; use {', '.join(sorted(keys))}")
    plan = Plan()
    if raw.get("config"):
        plan.config = (path.parent / raw["config"]).resolve()
    plan.data = str(raw.get("data") or "")
    if "methods" in raw and not raw["methods"]:
        raise UserError(f"plan {path}: methods is empty; list methods to run or drop the key for the default ones")
    if raw.get("methods"):
        plan.methods = [str(m) for m in raw["methods"]]
    for name, sets in (raw.get("ablations") or {}).items():
        if not isinstance(sets, dict):
            raise UserError(f"plan {path}: ablation {name} must map config keys to values")
        plan.ablations[str(name)] = sets
    plan.overrides = [f"{k}={json.dumps(v)}" for k, v in (raw.get("set") or {}).items()]
    verify = raw.get("verify") or {}
    if verify and (not isinstance(verify, dict) or set(verify) != {"pairs", "images"}):
        raise UserError(f"plan {path}: verify needs exactly pairs (a pairs file) and images (its photo folder)")
    plan.verify = {k: str(v) for k, v in verify.items()}
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
        sets[key.strip()] = yaml_value(value, f"--ablation {text!r}")
    return name.strip(), sets


def needs_teacher(sets: dict) -> bool:
    """KD-style methods, and ablations whose teacher.checkpoint is ``teacher-only`` (this benchmark's run)."""
    return (
        sets.get("strategy") == "kd"
        or sets.get("teacher.mode") == "fixed"
        or sets.get("teacher.checkpoint") == "teacher-only"
    )


def check_methods(plan: Plan) -> list[str]:
    """Validate method names; put teacher-only before the methods that need it; returns the run order."""
    known = list(METHODS) + list(plan.ablations) + ([RAW_PIXELS] if plan.verify else [])
    for name in plan.methods:
        if name not in known:
            raise UserError(f"unknown method {name!r}; choose from {', '.join(known)} (or add an --ablation)")
    if len(set(plan.methods)) != len(plan.methods):
        raise UserError(f"--methods lists a method twice: {','.join(plan.methods)}")
    order = [m for m in plan.methods if m not in ("teacher-only", RAW_PIXELS)]
    needs = [i for i, m in enumerate(order) if needs_teacher(plan.method_overrides(m))]
    wanted = needs + ([plan.methods.index("teacher-only")] if "teacher-only" in plan.methods else [])
    if wanted:
        order.insert(min(wanted), "teacher-only")
    return order


def method_config(plan: Plan, name: str, data_dir: Path | None, teacher_run: Path | None):
    """The method's config: the plan's base config + common overrides + the method's; ``data_dir``
    (the frozen set) replaces the data, None keeps the config's own (the open-set benchmark)."""
    from ..config import load_config

    sets = plan.method_overrides(name)
    if needs_teacher(sets):
        if teacher_run is None:
            raise UserError(f"method {name} needs the teacher-only run first")
        sets["teacher.checkpoint"] = str(teacher_run)
    overrides = list(plan.overrides) + [f"{k}={json.dumps(v)}" for k, v in sets.items()]
    overrides += [f"data.path={data_dir}", "data.kind=packed"] if data_dir is not None else []
    overrides.append(f"name={name}")
    return load_config(plan.config, overrides)
