"""`lrface evaluate`: closed-set top-1/top-5 + CMC, open-set DIR at false-alarm rates, or face
verification on a pairs file (LFW protocol). Torch-free except the first alignment of a pairs file's images."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure identification accuracy of a model + gallery",
        description="Either --gallery G PROBE_DIR (probes are an identity folder; probes of "
        "identities absent from the gallery count as unknowns for the open-set DIR), "
        "or --packed DIR (its train split is the gallery, its test split the probes), "
        "or --pairs PAIRS --images DIR (verification, LFW's View 2 protocol: 10-fold "
        "accuracy, TAR at FAR, ROC AUC). Writes OUT/cmc.png (or OUT/roc.png) and "
        "OUT/metrics.json.",
    )
    p.add_argument("probe_dir", nargs="?", help="identity folder of probe images (with --gallery)")
    p.add_argument(
        "--model",
        help="student.onnx or a packaged model name (default: the model recorded in the "
        "gallery, else the packaged default)",
    )
    p.add_argument("--gallery", help="gallery directory or plain identity folder")
    p.add_argument("--packed", help="packed set: gallery = train split, probes = test split")
    p.add_argument("--pairs", help="pairs file in LFW's layout ('10 300' header, 'name i j' / 'name1 i name2 j')")
    p.add_argument("--images", help="with --pairs: folder of <Name>/<Name>_NNNN.jpg photos (aligned once, cached)")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="with --packed: leave this fraction of identities out of the gallery as unknowns",
    )
    p.add_argument("--template", choices=["mean", "all"], default="mean", help="gallery template with --packed")
    p.add_argument(
        "--far",
        default=None,
        help="false-alarm rates (comma list): for the open-set DIR (default "
        "0.01,0.05,0.1) or, with --pairs, for TAR (default 0.01,0.001)",
    )
    p.add_argument("--max-rank", type=int, default=20, help="CMC curve length (default 20)")
    p.add_argument("--out", default="lrface-eval", help="folder for cmc.png and metrics.json (default lrface-eval)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from ..errors import UserError
    from ..evaluation.evaluate import evaluate_folder, evaluate_packed, plot_cmc
    from ..fileio import atomic_write, atomic_write_json
    from ..pretrained import resolve_model

    verify = bool(args.pairs or args.images)
    far_text = args.far or ("0.01,0.001" if verify else "0.01,0.05,0.1")
    try:
        fars = [float(v) for v in far_text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--far {args.far!r}: expected comma-separated numbers such as 0.01,0.1") from None
    if not all(0 <= f <= 1 for f in fars):
        raise UserError("--far values must be between 0 and 1")
    if args.max_rank < 1:
        raise UserError(f"--max-rank {args.max_rank}: the CMC curve needs at least rank 1")
    warn = lambda m: print(m, file=sys.stderr)
    if verify:
        if not (args.pairs and args.images) or args.packed or args.gallery or args.probe_dir:
            raise UserError("verification takes --pairs PAIRS --images DIR (and no --packed/--gallery/probe folder)")
        return _verify(args, fars, warn)
    if args.packed:
        if args.gallery or args.probe_dir:
            raise UserError("use either --packed DIR or --gallery G PROBE_DIR, not both")
        model = resolve_model(args.model)  # --model, else the packaged default
        result = evaluate_packed(args.packed, model, fars, args.max_rank, args.template, args.holdout, args.seed, warn)
    else:
        if not (args.gallery and args.probe_dir):
            raise UserError("pass --gallery G PROBE_DIR, or --packed DIR")
        result = evaluate_folder(args.gallery, args.probe_dir, args.model, fars, args.max_rank, warn)
    out = Path(args.out)
    if result["cmc"]:
        atomic_write(out / "cmc.png", lambda p: plot_cmc(result["cmc"], p, result.get("label", "")))
    atomic_write_json(out / "metrics.json", result)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(
            f"probes {result['probes']} (known {result['known_probes']}, unknown {result['unknown_probes']}), "
            f"gallery identities {result['gallery_identities']}"
        )
        if result["top1"] is None:
            print("top-1 N/A  top-5 N/A (no probe identity is enrolled in the gallery; see the open-set DIR)")
        else:
            print(f"top-1 {result['top1']:.2%}  top-5 {result['top5']:.2%}")
        for row in result.get("open_set", []):
            rate = "N/A" if row["dir"] is None else f"{row['dir']:.2%}"
            print(
                f"DIR at FAR {row['far']:g}: {rate} (threshold {row['threshold']:.4f}, "
                f"measured FAR {row['measured_far']:.2%})"
            )
        print(
            f"wrote {out / 'cmc.png'} and {out / 'metrics.json'}" if result["cmc"] else f"wrote {out / 'metrics.json'}"
        )
    return 0


def _verify(args: argparse.Namespace, fars: list[float], warn) -> int:
    import json
    from pathlib import Path

    from ..evaluation.evaluate import evaluate_pairs
    from ..evaluation.verification import plot_roc
    from ..fileio import atomic_write, atomic_write_json

    result, scores, same = evaluate_pairs(args.pairs, args.images, args.model, fars, warn)
    out = Path(args.out)
    atomic_write(out / "roc.png", lambda p: plot_roc(scores, same, p, Path(result["model"]).stem))
    atomic_write_json(out / "metrics.json", result)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(
            f"{result['pairs']} pairs ({result['same_pairs']} same), {result['folds']} folds, "
            f"model {result['model']} at {result['input_size']}x{result['input_size']}"
        )
        print(f"accuracy {result['accuracy']:.2%} +- {result['accuracy_std']:.2%}  ROC AUC {result['auc']:.4f}")
        for row in result["tar_at_far"]:
            print(f"TAR at FAR {row['far']:g}: {row['tar']:.2%} (threshold {row['threshold']:.4f})")
        print(f"wrote {out / 'roc.png'} and {out / 'metrics.json'}")
    return 0
