"""`lrface benchmark`: EKD against student-only, teacher-only, KD and KD + evolutionary teacher."""

from __future__ import annotations

import argparse

from . import add_set_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="train EKD and its baselines on one face set and compare them",
        description="Freeze one train/test split of DATA into OUT/data, train every method on it "
        "with the same config, epochs, augmentation and seed (checkpoints chosen on "
        "data.val_fraction), export each student to ONNX, score it as a gallery and "
        "write OUT/results.md, OUT/results.json and pictures.",
    )
    p.add_argument("--data", help="packed set or identity folder (folders are aligned with lrface.prep first)")
    p.add_argument("--out", required=True, help="output directory (finished identical runs in it are reused)")
    p.add_argument("--config", help="base training config (the EKD method), e.g. configs/face/celeba-wild-ekd.yaml")
    p.add_argument(
        "--plan",
        help="benchmark plan YAML (config, data, methods, ablations, set), "
        "e.g. configs/face/celeba-wild-benchmark.yaml",
    )
    p.add_argument(
        "--methods",
        help="comma list from student-only, teacher-only, kd, kd-et, ekd and ablation "
        "names (default: all five; kd adds teacher-only)",
    )
    p.add_argument(
        "--ablation",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="an extra method: ekd with these overrides, e.g. ekd-g1:guided.count=1 (repeatable)",
    )
    add_set_option(p, " for every method")
    p.add_argument(
        "--no-align",
        dest="align",
        action="store_false",
        help="resize whole images of an identity folder instead of detecting and aligning faces",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="methods trained at once, one process each (default 1); set train.threads so that "
        "jobs x threads fits the cores. A method that needs teacher-only waits for it",
    )
    p.add_argument("--tsne-identities", type=int, default=10, help="identities in the t-SNE picture (default 10)")
    p.add_argument(
        "--seeds",
        metavar="N,N,...",
        help="run the whole benchmark once per seed into OUT/seed-N (all on the first seed's frozen "
        "split) and write OUT/summary.md and summary.json: mean, sd and paired differences",
    )
    p.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        help="no training: summarise finished benchmark directories into OUT/summary.{md,json}",
    )
    p.set_defaults(func=run)


def _seeds(text: str) -> list[int]:
    from ..errors import UserError

    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: expected whole numbers separated by commas, e.g. --seeds 5,6,7") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text!r}: give one or more distinct seeds, e.g. --seeds 5,6,7")
    return seeds


def run(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from ..benchmark import (
        Plan,
        log_stderr,
        parse_ablation,
        read_plan,
        read_reports,
        run_benchmark,
        run_seeds,
        write_summary,
    )
    from ..errors import UserError

    if args.summarize:
        if args.seeds:
            raise UserError("--summarize reads finished runs and trains nothing; drop --seeds")
        command = " ".join(
            shlex.quote(p) for p in ["lrface", "benchmark", "--out", args.out, "--summarize", *args.summarize]
        )
        write_summary(read_reports(args.summarize), Path(args.out), command)
        print(Path(args.out, "summary.md").read_text(encoding="utf-8"))
        log_stderr(f"wrote {args.out}/summary.md and summary.json")
        return 0
    seeds = _seeds(args.seeds) if args.seeds else None

    plan = read_plan(args.plan) if args.plan else Plan()
    if args.config:
        plan.config = Path(args.config)
    if args.data:
        plan.data = args.data
    if args.methods is not None:
        plan.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not plan.methods:
            raise UserError(
                f"--methods {args.methods!r} names no method; list some, e.g. --methods student-only,kd,ekd"
            )
    for text in args.ablation:
        name, sets = parse_ablation(text)
        plan.ablations[name] = sets
        if not args.methods and name not in plan.methods:
            plan.methods.append(name)
    plan.overrides += args.overrides
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.tsne_identities < 2:
        raise UserError("--tsne-identities must be at least 2")
    parts = ["lrface", "benchmark", "--out", args.out]
    for flag, value in (
        ("--plan", args.plan),
        ("--config", args.config),
        ("--data", args.data),
        ("--methods", args.methods),
    ):
        parts += [flag, value] if value else []
    parts += [x for t in args.ablation for x in ("--ablation", t)] + [x for t in args.overrides for x in ("--set", t)]
    parts += [] if args.align else ["--no-align"]
    parts += ["--jobs", str(args.jobs)] if args.jobs > 1 else []
    parts += ["--seeds", args.seeds] if seeds else []
    command = " ".join(shlex.quote(p) for p in parts)
    if plan.verify:
        from ..benchmark.openset import run_openset_benchmark

        if seeds or args.jobs > 1:
            raise UserError(
                "a plan with verify (the open-set benchmark) runs one seed, one method at a time; "
                "drop --seeds/--jobs (set train.seed with --set for another seed)"
            )
        run_openset_benchmark(plan, Path(args.out), log_stderr, command)
        print(Path(args.out, "results.md").read_text(encoding="utf-8"))
        log_stderr(f"wrote {args.out}/results.md and results.json")
        return 0
    if seeds:
        run_seeds(plan, Path(args.out), seeds, args.align, args.tsne_identities, log_stderr, command, args.jobs)
        print(Path(args.out, "summary.md").read_text(encoding="utf-8"))
        log_stderr(f"wrote {args.out}/summary.md and summary.json (per seed: {args.out}/seed-N/results.md)")
        return 0
    report = run_benchmark(plan, Path(args.out), args.align, args.tsne_identities, log_stderr, command, args.jobs)
    print(Path(args.out, "results.md").read_text(encoding="utf-8"))
    log_stderr(f"wrote {args.out}/results.md, results.json and {', '.join(report['pictures'])}")
    return 0
