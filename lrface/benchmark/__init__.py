"""EKD against its baselines on one face set: same data, splits, epochs, augmentation and seeds.

Behind `lrface benchmark`. The set is frozen once into ``OUT/data`` (a packed train/test set,
``freeze``), every method of the plan (``plan``) trains on it (the validation split, for checkpoint
choice, is carved from train), its val-selected student is exported to ONNX and scored as a FAISS
gallery (train split enrolled, test split as probes; ``run``), and OUT/results.{md,json}
(``report``) plus pictures (``lrface.plots``) are written; ``summary`` combines several runs.
"""

from .plan import DESCRIPTIONS, METHODS, Plan, check_methods, method_config, parse_ablation, read_plan
from .report import log_stderr, results_markdown
from .run import run_benchmark, run_seeds
from .summary import read_reports, summarize, write_summary

__all__ = [
    "DESCRIPTIONS",
    "METHODS",
    "Plan",
    "check_methods",
    "log_stderr",
    "method_config",
    "parse_ablation",
    "read_plan",
    "read_reports",
    "results_markdown",
    "run_benchmark",
    "run_seeds",
    "summarize",
    "write_summary",
]
