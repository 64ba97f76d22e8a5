"""One benchmark's report: the side-by-side results.md table, and the command's log line."""

from __future__ import annotations

import sys


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def results_markdown(report: dict) -> str:
    """The side-by-side table and what each column means."""
    d = report["data"]
    lines = [
        "# lrface benchmark: EKD against its baselines",
        "",
        f"- date: {report['date']}",
        f"- machine: {report['machine']}",
        f"- data: {d['source']} frozen into {d['frozen']} ({d['identities']} identities; "
        + ", ".join(f"{k} {v}" for k, v in d["splits"].items())
        + ")",
        f"- base config: {report['base_config']}; common overrides: {' '.join(report['common_overrides']) or 'none'}",
    ]
    if report["command"]:
        lines.append(f"- command: `{report['command']}`")
    lines += [
        "",
        "| method | student top-1 (test, %) | gallery top-1 (test vs train, %) | teacher top-1 (test, %) "
        "| final gap (teacher - student, points) | student params | teacher params | best epoch (val) "
        "| training time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["methods"].items():
        lines.append(
            f"| {name} | {_fmt(r.get('test_top1_student'))} | {_fmt(r.get('gallery_top1'))} "
            f"| {_fmt(r.get('test_top1_teacher'))} | {_fmt(r.get('final_gap'))} "
            f"| {r.get('student_params') or '-'} | {r.get('teacher_params') or '-'} "
            f"| {r['best_epoch']}/{r['epochs']} | {r['wall_seconds']:.0f} |"
        )
    lines += [
        "",
        "Columns: top-1 on the test split of the checkpoint chosen on the validation split "
        "(carved from the training identities' training images; the test split is never used for choices); "
        "gallery top-1 runs the exported ONNX student with the train split enrolled (mean template, "
        "FAISS) and the test images as probes; the gap is teacher minus student top-1 at the last epoch; "
        "parameters count the deployed backbone + classifier; time is wall-clock training + evaluation.",
        "",
        "Methods:",
    ]
    lines += [f"- {n}: {r['description']}" for n, r in report["methods"].items()]
    lines += ["", "Pictures: " + ", ".join(f"[{p}]({p})" for p in report["pictures"]), ""]
    return "\n".join(lines)


def log_stderr(msg: str) -> None:
    print(f"lrface benchmark: {msg}", file=sys.stderr, flush=True)
