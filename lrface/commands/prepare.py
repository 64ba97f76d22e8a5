"""`lrface prepare folder|umdfaces|uccs ROOT --out DIR`: detect, align, degrade to a packed set.

Imports only argparse at load time; lrface.prep (torch, MTCNN, albumentations) is imported on use.
"""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("root", help="dataset root folder")
    common.add_argument("--out", required=True, help="output packed-set directory")
    common.add_argument("--size", type=int, default=16, help="output side in pixels, 8..64 (default 16)")
    common.add_argument("--downsample", choices=("area", "bicubic"), default="area", help="down-sampling filter")
    common.add_argument(
        "--blur",
        type=float,
        default=0.0,
        help="max Gaussian blur sigma at the 112 px working size, drawn per image (0 = off)",
    )
    common.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="max Gaussian noise std (0..255 units) at the target size, drawn per image (0 = off)",
    )
    common.add_argument("--jpeg-quality", type=int, default=0, help="JPEG re-compression quality 1..100 (0 = off)")
    common.add_argument(
        "--no-detect-fallback",
        choices=("skip", "box"),
        default="box",
        dest="fallback",
        help="when no face is detected: crop the box (whole image for folders) or skip the image",
    )
    common.add_argument(
        "--split-fraction",
        type=float,
        default=0.0,
        help="test fraction per identity (seeded); 0 writes one split 'all'",
    )
    common.add_argument("--seed", type=int, default=0, help="seed for degradation and splits")
    common.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="threads that load and decode images (MTCNN itself runs on one thread)",
    )
    common.add_argument("--batch-size", type=int, default=32, help="MTCNN batch size")
    common.add_argument(
        "--force", action="store_true", help="write into an existing directory that is not a packed set"
    )
    common.add_argument(
        "--hr-teacher",
        choices=("dlib",),
        default=None,
        help="also store a high-resolution teacher's descriptor of every kept face "
        "(<split>/hr_embeddings.npy; needs the hr extra). On a set this command already made, "
        "only the missing descriptors are computed",
    )

    parser = subparsers.add_parser(
        "prepare",
        help="detect, align and degrade faces into a packed set",
        description="Detect faces (MTCNN), align them to the 5-point template, degrade "
        "them to low resolution and write a packed set (+ preview.png).",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    kinds.add_parser("folder", parents=[common], help="identity folders: ROOT/<identity>/*.jpg")
    kinds.add_parser("umdfaces", parents=[common], help="UMDFaces: ROOT/umdfaces_batchN/umdfaces_batchN_ultraface.csv")
    uccs = kinds.add_parser("uccs", parents=[common], help="UCCS v3: ROOT/gallery.csv, validation.csv")
    uccs.add_argument(
        "--protocol",
        choices=("paper-180",),
        default=None,
        help="paper-180: 180 seeded random known subjects, each split into train/test",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    import sys

    from lrface.prep.options import PrepareConfig, made_by
    from lrface.prep.pipeline import prepare
    from lrface.prep.readers import read_folder, read_uccs, read_umdfaces

    cfg = PrepareConfig(
        size=args.size,
        downsample=args.downsample,
        blur=args.blur,
        noise=args.noise,
        jpeg_quality=args.jpeg_quality,
        fallback=args.fallback,
        split_fraction=args.split_fraction,
        seed=args.seed,
        workers=args.workers,
        batch_size=args.batch_size,
        force=args.force,
    )
    cfg.validate()
    if args.hr_teacher:
        from lrface.prep.hr_teacher import build_teacher

        build_teacher(args.hr_teacher)  # the extra is installed and its weights load, before any work
    if args.kind == "folder":
        items = read_folder(args.root)
    elif args.kind == "umdfaces":
        items = read_umdfaces(args.root)
    else:
        items = read_uccs(args.root, protocol=args.protocol, seed=args.seed)
    kind = args.kind if args.kind != "uccs" or not args.protocol else f"uccs/{args.protocol}"
    if not (args.hr_teacher and made_by(args.out, cfg, kind, args.root)):
        result = prepare(items, args.out, cfg, kind=kind, root=args.root)
        for w in result.warnings:
            print(f"lrface prepare: warning: {w}", file=sys.stderr)
        print(result.summary())
    if args.hr_teacher:
        from lrface.prep.hr_pass import add_hr_embeddings

        print(add_hr_embeddings(args.out, items, cfg, args.hr_teacher))
    return 0
