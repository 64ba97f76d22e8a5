"""Does a new training reproduce a stored run, epoch for epoch? (Before a stored control stands in for a retrained one.)

Compares RUN's ``metrics.csv`` with the in-training rows a study's JSON kept for NAME (``in_training[NAME]``: one dict
per epoch) on every epoch both hold and every column both hold except the timings (img/s, seconds), as floats,
exactly. Exit 0 when every compared value is equal, 1 when one differs (train the control again), 2 on bad input.
docs/evaluate.md, "How a change to the packaged recipe is tried", says when to use it.

    python tools/check_control.py RUN STUDY.json NAME
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

TIMINGS = {"epoch", "img_per_s", "train_seconds"}


def stored_rows(study: Path, name: str) -> dict[int, dict]:
    """{epoch: row} of ``in_training[name]`` in a study's JSON."""
    data = json.loads(study.read_text())
    runs = data.get("in_training") if isinstance(data, dict) else None
    if not isinstance(runs, dict) or name not in runs:
        known = ", ".join(sorted(runs)) if isinstance(runs, dict) else "none"
        raise ValueError(f"{study} keeps no in-training rows for {name!r} (it has: {known}); pass one of those names")
    return {int(row["epoch"]): row for row in runs[name]}


def run_rows(run: Path) -> dict[int, dict]:
    """{epoch: row} of a run's ``metrics.csv``, empty cells left out."""
    with open(run / "metrics.csv", newline="") as fh:
        return {int(float(r["epoch"])): {k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)}


def compare(new: dict[int, dict], old: dict[int, dict]) -> list[tuple[int, int, list[str]]]:
    """(epoch, columns compared, columns that differ) for each epoch both hold."""
    out = []
    for epoch in sorted(new.keys() & old.keys()):
        keys = sorted((new[epoch].keys() & old[epoch].keys()) - TIMINGS)
        out.append((epoch, len(keys), [k for k in keys if float(new[epoch][k]) != float(old[epoch][k])]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the new training's run directory (its metrics.csv)")
    ap.add_argument("study", type=Path, help="the study's JSON holding the stored run's in-training rows")
    ap.add_argument("name", help="the stored run's name in that JSON's in_training")
    args = ap.parse_args(argv)
    try:
        if not (args.run / "metrics.csv").is_file():
            raise ValueError(f"{args.run} has no metrics.csv: pass a run directory that has finished an epoch")
        if not args.study.is_file():
            raise ValueError(f"{args.study} is not a file: pass a results/*.json that has in_training")
        rows = compare(run_rows(args.run), stored_rows(args.study, args.name))
    except (ValueError, json.JSONDecodeError, KeyError) as exc:
        print(f"check_control: {exc}", file=sys.stderr)
        return 2
    if not rows or not any(n for _, n, _ in rows):
        print(f"check_control: {args.run} and {args.name} share no epoch and column to compare", file=sys.stderr)
        return 2
    print("| epoch | columns compared | differing |\n|---:|---:|---|")
    for epoch, n, diff in rows:
        print(f"| {epoch} | {n} | {', '.join(diff) or '-'} |")
    same = all(not diff for _, _, diff in rows)
    print(f"{'reproduced' if same else 'NOT reproduced'}: {len(rows)} epochs of {args.run} against {args.name}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
