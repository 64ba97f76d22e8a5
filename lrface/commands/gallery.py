"""`lrface gallery build|add|remove|list`: FAISS galleries of enrolled identities (torch-free)."""

from __future__ import annotations

import argparse
import sys

ALIGN_HELP = (
    "images are raw photos: detect and align the face as `lrface prepare` does (torch-free MTCNN); "
    "photos without a face are skipped with a warning"
)


def register(sub) -> None:
    p = sub.add_parser(
        "gallery",
        help="build and edit galleries of known identities",
        description="A gallery is a directory with a FAISS index and SQLite metadata, tied to the "
        "model that embedded it. Unreadable images are skipped with a warning; "
        "a file already enrolled (same content) is not added again.",
    )
    gsub = p.add_subparsers(dest="gallery_command", metavar="ACTION", required=True)

    b = gsub.add_parser("build", help="build a gallery from an identity folder (<identity>/*.jpg)")
    b.add_argument("folder", help="folder with one sub-folder of images per identity")
    b.add_argument(
        "--model",
        help="student.onnx from `lrface export --onnx`, or a packaged model name (default: the packaged default model)",
    )
    b.add_argument("--out", help="gallery directory (default FOLDER.gallery)")
    b.add_argument(
        "--template",
        choices=["mean", "all"],
        default="mean",
        help="one mean embedding per identity (default) or every sample",
    )
    b.add_argument(
        "--index",
        choices=["flat", "ivf", "hnsw"],
        default="flat",
        help="exact search (default) or approximate for large galleries",
    )
    b.add_argument(
        "--force",
        action="store_true",
        help="replace an existing (or damaged) gallery at --out; also writes into a folder holding other files",
    )
    b.add_argument("--align", action="store_true", help=ALIGN_HELP)
    b.set_defaults(func=build)

    a = gsub.add_parser("add", help="add images of one identity, or an identity folder tree")
    a.add_argument("gallery")
    a.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    a.add_argument("--identity", help="name for all PATHs; without it each PATH is an identity folder tree")
    a.add_argument("--model", help="default: the model the gallery was built with")
    a.add_argument("--align", action="store_true", help=ALIGN_HELP)
    a.set_defaults(func=add)

    r = gsub.add_parser("remove", help="remove an identity and its samples")
    r.add_argument("gallery")
    r.add_argument("--identity", required=True)
    r.set_defaults(func=remove)

    c = gsub.add_parser(
        "calibrate",
        help="choose the 'unknown' thresholds at a false-alarm rate and store them",
        description="Every enrolled sample plays a stranger once (leave-one-identity-out): its best "
        "score against the other identities gives the identify threshold, scores of "
        "sample pairs of different identities the verify threshold; each accepts at "
        "most FAR of those impostor scores (score >= threshold). identify, verify and "
        "serve then use them unless --threshold is given.",
    )
    c.add_argument("gallery")
    c.add_argument("--far", type=float, default=0.01, help="false-alarm rate, between 0 and 1 (default 0.01)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=calibrate)

    ls = gsub.add_parser("list", help="identities and sample counts")
    ls.add_argument("gallery")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _skipped(align: bool) -> str:
    return "unreadable or faceless skipped" if align else "unreadable skipped"


def build(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from ..errors import UserError
    from ..fileio import claim_output
    from ..inference.embedder import Embedder
    from ..inference.enrol import build_from_folder
    from ..inference.gallery_store import is_gallery, writer_lock
    from ..pretrained import resolve_model

    folder = Path(args.folder)
    out = Path(args.out) if args.out else folder.with_name(folder.name + ".gallery")
    if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
        raise UserError(f"--out {out} is inside the image folder; put the gallery elsewhere")
    if is_gallery(out) and not args.force:
        raise UserError(f"{out} is already a gallery; use `lrface gallery add`, or --force to rebuild it")
    if not is_gallery(out) and not args.force and out.is_dir() and any(out.iterdir()):
        raise UserError(
            f"--out {out} is a folder with other files in it; name a new path for the gallery (--force writes "
            "into it anyway: to rebuild a damaged gallery there)"
        )
    with contextlib.nullcontext() if args.out else claim_output(out):  # the CLI claims an explicit --out
        embedder = Embedder(resolve_model(args.model), align=args.align)
        gallery, report = build_from_folder(folder, embedder, args.template, args.index, warn=_err, progress=_err)
        with writer_lock(out):
            gallery.save(out)
    print(
        f"built {out}: {gallery.count_identities()} identities, {report.added} {'aligned ' * args.align}images "
        f"({report.duplicates} duplicates{_conflicts(report.conflicts)}, {report.bad} {_skipped(args.align)}), "
        f"{args.index} index, {args.template} template"
    )
    return 0


def add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..api import Gallery, Recognizer
    from ..errors import UserError
    from ..imageio import is_image_file
    from ..inference.folders import (
        check_identity_name,
        list_images,
        scan_identity_folder,
    )

    groups: dict[str, list[Path]] = {}
    if args.identity is not None:
        name = check_identity_name(args.identity)
        for p in map(Path, args.paths):
            if p.is_dir():
                groups.setdefault(name, []).extend(list_images(p))
            elif p.is_file() and is_image_file(p):
                groups.setdefault(name, []).append(p)
            else:
                raise UserError(f"{p}: not an image file or folder")
    else:
        for p in map(Path, args.paths):
            for name, files in scan_identity_folder(p).items():
                groups.setdefault(name, []).extend(files)
    if not any(groups.values()):
        raise UserError("no images to add: pass image files or folders that hold them (.jpg, .png, ...)")
    gallery = Gallery.open(args.gallery)
    recorded = gallery.info["model_path"]
    model = args.model or (recorded if Path(recorded).is_file() else None)
    results = gallery.add_many(groups, Recognizer(model, align=args.align), skip_bad=True, warn=_err)
    added, dups, bad = (sum(getattr(r, k) for r in results) for k in ("added", "duplicates", "bad"))
    conflicts = sum(len(r.conflicts) for r in results)
    print(
        f"added {added} {'aligned ' * args.align}image{'s' * (added != 1)} to {args.gallery} ({dups} already there"
        f"{_conflicts(conflicts)}, "
        f"{bad} {_skipped(args.align)}); {len(gallery)} identities"
    )
    return 0


def remove(args: argparse.Namespace) -> int:
    from ..api import Gallery

    g = Gallery.open(args.gallery)
    n = g.remove(args.identity)
    print(f"removed {args.identity!r} ({n} samples) from {args.gallery}; {len(g)} identities left")
    return 0


def calibrate(args: argparse.Namespace) -> int:
    import json

    from ..api import Gallery

    cal = Gallery.open(args.gallery).calibrate(args.far)
    if args.json:
        print(json.dumps(cal, indent=2, ensure_ascii=False))
    else:
        print(
            f"calibrated {args.gallery} at FAR {cal['far']:g}: identify threshold {cal['identify_threshold']:.4f} "
            f"({cal['identify_impostor_scores']} impostor scores), verify threshold {cal['verify_threshold']:.4f} "
            f"({cal['verify_impostor_pairs']} impostor pairs) from {cal['samples']} samples of {cal['identities']} "
            "identities"
        )
    return 0


def list_(args: argparse.Namespace) -> int:
    import json

    from ..inference.gallery import Gallery

    g = Gallery.open(args.gallery)
    rows = g.identities()
    if args.json:
        print(
            json.dumps(
                {
                    "identities": [{"identity": n, "samples": c} for n, c in rows],
                    "aligned_samples": g.count_aligned(),
                    "model_fingerprint": g.fingerprint,
                    "model_sha256": g.info.get("model_sha256"),
                    "model_path": g.info["model_path"],
                    "lrface_version": g.info.get("lrface_version"),
                    "embedding_dim": g.dim,
                    "index": g.kind,
                    "index_params": g.params,
                    "template": g.template,
                    "calibration": g.info.get("calibration"),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for name, count in rows:
        print(f"{name}\t{count}")
    print(
        f"{len(rows)} identities, {sum(c for _, c in rows)} samples; {g.kind} index, {g.template} template, "
        f"model {g.fingerprint[:12]} ({g.info['model_path']}, sha256 {(g.info.get('model_sha256') or '-')[:12]}); "
        f"written by lrface {g.info.get('lrface_version', '(unknown version)')}; {_calibration_state(g.info)}",
        file=sys.stderr,
    )
    return 0


def _calibration_state(info: dict) -> str:
    cal = info.get("calibration")
    if not cal:
        return "not calibrated"
    state = f"calibrated at FAR {cal['far']:g} on {cal['identities']} identities"
    return state + (
        " (stale: the gallery changed since; re-run `lrface gallery calibrate`)" if "changed" in cal else ""
    )


def _conflicts(n: int) -> str:
    return f" of which {n} under another identity (see the warnings)" if n else ""
