"""`lrface identify PROBE... --gallery G`: name faces with ONNX Runtime + FAISS (torch-free, --align included)."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "identify",
        help="identify face images against a gallery (torch-free)",
        description="Print, per probe, the answer (best identity, or 'unknown' below --threshold) "
        "and the top-k identities with cosine scores, tab-separated; or --json. "
        "A probe file named explicitly must be readable; unreadable images inside a "
        "probe folder are skipped with a warning.",
    )
    p.add_argument(
        "probes",
        nargs="+",
        metavar="PROBE",
        help="image files, folders of images, and/or video files (.mp4, .avi, ...)",
    )
    p.add_argument(
        "--gallery",
        required=True,
        help="gallery from `lrface gallery build`, or a folder of <identity>/ images "
        "(built on first use and cached in FOLDER/.lrface-gallery/)",
    )
    p.add_argument(
        "--model",
        help="student.onnx or a packaged model name (default: the model recorded in the "
        "gallery, else the packaged default)",
    )
    p.add_argument("--top-k", type=int, default=5, help="identities to list per probe (default 5)")
    p.add_argument(
        "--threshold",
        type=float,
        help="cosine score below which the answer is 'unknown' (a score equal to it is accepted); default: the "
        "gallery's calibrated threshold (`lrface gallery calibrate`), else always name the best",
    )
    p.add_argument(
        "--align",
        action="store_true",
        help="probes are raw photos: detect and align the face as `lrface prepare` does (torch-free "
        "MTCNN); photos without a face are skipped with a warning",
    )
    p.add_argument("--json", action="store_true", help="one JSON document with every probe")
    from .scenes import add_options

    add_options(p)
    p.set_defaults(func=run)


def _import_numpy_with_one_blas_thread() -> None:
    """Import numpy with OPENBLAS_NUM_THREADS=1 unless the user set it: numpy's OpenBLAS starts a
    thread per core at import (~70 ms on a busy machine) and identify does no large numpy algebra.
    The variable is restored before FAISS loads its own BLAS, which keeps its default threads."""
    if "numpy" in sys.modules or "OPENBLAS_NUM_THREADS" in os.environ:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy  # noqa: F401
    finally:
        del os.environ["OPENBLAS_NUM_THREADS"]


def run(args: argparse.Namespace) -> int:
    import json

    _import_numpy_with_one_blas_thread()
    from ..api import Gallery
    from ..errors import UserError
    from ..inference.identify import collect_probes, embed_probes, open_gallery

    if args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    warn = lambda m: print(m, file=sys.stderr)
    from . import scenes

    if scenes.wanted(args):
        return run_scenes(args, warn)
    scenes.refuse_unused(args)
    files, explicit = collect_probes(args.probes)
    gallery, embedder = open_gallery(args.gallery, args.model, log=warn, align=args.align)
    files, embeddings = embed_probes(embedder, files, explicit, warn)
    results = Gallery.wrap(gallery, args.gallery).search(embeddings, args.top_k, args.threshold)
    if args.json:
        print(
            json.dumps([{**r.to_dict(), "probe": str(f)} for f, r in zip(files, results)], ensure_ascii=False, indent=2)
        )
    else:
        threshold = results[0].threshold
        warn(f"threshold: {'none' if threshold is None else f'{threshold:.4f}'} ({results[0].threshold_source})")
        print(
            "\n".join(
                f"{f}\t{r.identity}\t" + "\t".join(f"{m.identity}:{m.score:.4f}" for m in r.matches)
                for f, r in zip(files, results)
            )
        )
    return 0


def run_scenes(args: argparse.Namespace, warn) -> int:
    """`--all-faces` and video: every face of each image, the identified tracks of each video."""
    import json

    from ..api import Gallery
    from ..errors import UserError
    from ..inference.identify import open_gallery
    from . import scenes

    detector = scenes.detector_for(args)
    streams, images, explicit = scenes.split_inputs(args)
    gallery, embedder = open_gallery(args.gallery, args.model, log=warn, align=args.align)  # the folder's photos
    api = Gallery.wrap(gallery, args.gallery)
    search = lambda e: api.search(e, args.top_k, args.threshold)
    entries = scenes.identify_images(images, explicit, detector, embedder, search, args, warn)
    tracks, stops = scenes.identify_streams(streams, detector, embedder, search, args, warn)
    entries += tracks
    if not entries:
        raise UserError("no usable probe images (all unreadable)")
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
    else:
        threshold, source = api.threshold(args.threshold)
        warn(f"threshold: {'none' if threshold is None else f'{threshold:.4f}'} ({source})")
        print("\n".join(map(scenes.text_line, entries)))
    for line in stops:
        warn(f"lrface identify: error: {line}")
    return 2 if stops else 0
