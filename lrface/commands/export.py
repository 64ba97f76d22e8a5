"""`lrface export --onnx RUN_DIR`: the student as a verified ONNX model."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export the trained student to ONNX (verified against torch)",
        description="Export the student backbone + classifier of a training run to ONNX with a "
        "dynamic batch axis; outputs 'embedding' (L2-normalised) and 'logits'. "
        "The file is written only if onnxruntime matches torch within 1e-4.",
    )
    p.add_argument(
        "--onnx", metavar="RUN", required=True, help="run directory (uses checkpoints/best.pt) or a checkpoint .pt"
    )
    p.add_argument("--out", metavar="FILE", help="output file (default RUN/export/student.onnx)")
    p.add_argument(
        "--quantize", choices=["int8"], help="also quantize weights to int8 (dynamic); prints top-1 agreement with fp32"
    )
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="embed each face and its mirror image and average the two (test-time flip inside the model: "
        "twice the compute; default file RUN/export/student.flip.onnx)",
    )
    p.add_argument(
        "--ema",
        action=argparse.BooleanOptionalAction,
        help="export the student's weight average (train.ema_decay) or, with --no-ema, its weights; default: the one "
        "that picked best.pt (train.select_on); the other is written as student.ema.onnx / student.raw.onnx",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_onnx

    export_onnx(args.onnx, args.out, quantize=args.quantize, flip_average=args.flip_average, ema=args.ema)
    return 0
