"""Several benchmark runs (seeds) summarised: mean, sd, 95 % t-interval, paired differences against baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text

SUMMARY_METRICS = {
    "test_top1_student": "student top-1",
    "gallery_top1": "gallery top-1",
    "test_top1_teacher": "teacher top-1",
}
PAIRED_BASELINES = ("student-only", "kd")


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
    out = {
        "n": len(a),
        "values": [float(v) for v in a],
        "mean": float(a.mean()),
        "sd": float(a.std(ddof=1)) if len(a) > 1 else None,
        "ci95": None,
    }
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
            values = [
                r["methods"][name][key]
                for _, r in reports
                if name in r["methods"] and r["methods"][name].get(key) is not None
            ]
            if values:
                entry[key] = _stats(values)
        methods[name] = entry
    paired = {}
    for base in PAIRED_BASELINES:
        for name in names:
            both = [r["methods"] for _, r in reports if name in r["methods"] and base in r["methods"]]
            diffs = [
                m[name]["test_top1_student"] - m[base]["test_top1_student"]
                for m in both
                if name != base and m[name].get("test_top1_student") is not None
            ]
            if diffs:
                paired.setdefault(base, {})[name] = {**_stats(diffs), "wins": sum(d > 0 for d in diffs)}
    return {"runs": runs, "methods": methods, "paired_student_top1": paired}


def _ms(st: dict | None) -> str:
    if st is None:
        return "-"
    return f"{st['mean']:.2f}" + (f" ({st['sd']:.2f})" if st["sd"] is not None else "")


def summary_markdown(summary: dict, command: str = "") -> str:
    runs = summary["runs"]
    lines = [
        f"# lrface benchmark over {len(runs)} runs",
        "",
        "- runs: " + ", ".join(f"{r['dir']} (seed {r['seed'] if r['seed'] is not None else '?'})" for r in runs),
    ]
    if command:
        lines.append(f"- command: `{command}`")
    lines += [
        "",
        "| method | runs | student top-1 mean (sd) | student top-1 per run | gallery top-1 mean (sd) "
        "| teacher top-1 mean (sd) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name, m in summary["methods"].items():
        st = m.get("test_top1_student")
        n = max((m[k]["n"] for k in SUMMARY_METRICS if k in m), default=0)
        lines.append(
            f"| {name} | {n} | {_ms(st)} | {' / '.join(f'{v:.2f}' for v in st['values']) if st else '-'} "
            f"| {_ms(m.get('gallery_top1'))} | {_ms(m.get('test_top1_teacher'))} |"
        )
    paired = summary["paired_student_top1"]
    if paired:
        bases = list(paired)
        lines += [
            "",
            "Paired differences in student top-1 (points; the same seed and test split): mean, "
            "95 % t-interval of the mean, and the runs where the method is higher.",
            "",
            "| method | " + " | ".join(f"vs {b}" for b in bases) + " |",
            "|---|" + "---:|" * len(bases),
        ]
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
    lines += [
        "",
        "Top-1 values are percentages on each run's test split (checkpoint chosen on validation); "
        "sd is the sample standard deviation over runs.",
        "",
    ]
    return "\n".join(lines)


def write_summary(reports: list[tuple[str, dict]], out: Path, command: str = "") -> dict:
    summary = summarize(reports)
    summary["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", summary_markdown(summary, command))
    return summary
