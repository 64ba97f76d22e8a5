"""`lrface verify A B`: are two face images the same person? (torch-free)

Exit status: 0 same person, 1 different people, 2 bad input (one-line error)."""

from __future__ import annotations

import argparse

SAME, DIFFERENT = 0, 1


def register(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="1:1 verification of two face images (exit 0 same, 1 different, 2 bad input)",
        description="Prints the cosine score and the answer; the images are the same person when "
        "score >= threshold. Threshold: --threshold, else the verify threshold of "
        "--gallery calibrated by `lrface gallery calibrate`, else the packaged model card's threshold at "
        "FAR 1e-3 on the validation the card names (printed with the answer; docs/verify-threshold.md). "
        "Exit status 0 same, 1 different, 2 bad input.",
    )
    p.add_argument("a", metavar="A", help="first image")
    p.add_argument("b", metavar="B", help="second image")
    p.add_argument("--threshold", type=float, help="cosine score at or above which A and B are the same person")
    p.add_argument("--gallery", help="a calibrated gallery whose verify threshold (and model) to use")
    p.add_argument(
        "--model",
        help="student.onnx or a packaged model name (default: the gallery's model, else the packaged default)",
    )
    p.add_argument(
        "--align",
        action="store_true",
        help="images are raw photos: detect and align the face as `lrface prepare` does (torch-free MTCNN)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..api import Gallery, Recognizer

    gallery = Gallery.open(args.gallery) if args.gallery else None
    if args.model is None and gallery is not None and not args.align:
        rec = gallery.recognizer()
    else:
        rec = Recognizer(args.model or (gallery.recognizer().model_path if gallery else None), align=args.align)
    result = rec.verify(args.a, args.b, threshold=args.threshold, gallery=gallery)
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **result.to_dict()}, ensure_ascii=False, indent=2))
    else:
        far = "" if result.threshold_far is None else f" at FAR {result.threshold_far:g}"
        print(
            f"{'same' if result.same else 'different'}\t{result.score:.4f}\tthreshold {result.threshold:.4f}{far} "
            f"({result.threshold_source})"
        )
    return SAME if result.same else DIFFERENT
