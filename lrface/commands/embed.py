"""`lrface embed IMAGES... --out vectors.npy | --json`: L2-normalised embeddings (torch-free)."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "embed",
        help="write the embeddings of face images (.npy or JSON)",
        description="Row i of the output is the i-th image listed (on stdout with --out). A file "
        "named explicitly must be readable; unreadable images inside a folder are "
        "skipped with a warning.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files and/or folders of images")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="write a float32 N x D array to this .npy file (atomically)")
    out.add_argument("--json", action="store_true", help="print [{image, embedding}] as JSON")
    p.add_argument("--model", help="student.onnx or a packaged model name (default: the packaged default)")
    p.add_argument(
        "--align",
        action="store_true",
        help="images are raw photos: detect and align the face as `lrface prepare` does (torch-free MTCNN)",
    )
    from .scenes import add_options

    add_options(p, draw=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from ..api import Recognizer
    from ..fileio import atomic_write
    from ..inference.identify import collect_probes, embed_probes

    out = Path(args.out) if args.out else None  # checked before the work by the CLI (cli.OUTPUT_KINDS)
    warn = lambda m: print(m, file=sys.stderr)
    files, explicit = collect_probes(args.images)
    if args.all_faces:
        rows, vectors, fingerprint = _all_faces(args, files, explicit, warn)
    else:
        from . import scenes

        scenes.refuse_unused(args)
        rec = Recognizer(args.model, align=args.align)
        files, vectors = embed_probes(rec.embedder, files, explicit, warn)
        rows, fingerprint = [{"image": str(f)} for f in files], rec.fingerprint
    if out is None:
        print(
            json.dumps(
                [{**r, "embedding": [round(float(v), 7) for v in row]} for r, row in zip(rows, vectors)],
                ensure_ascii=False,
            )
        )
        return 0

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)

    atomic_write(out, write)
    print("\n".join("\t".join(str(v) for v in r.values()) for r in rows))
    warn(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings (model {fingerprint[:12]}) to {out}")
    return 0


def _all_faces(args, files, explicit, warn):
    """One row per detected face of each image: ({image, face, box, det_score}, embedding)."""
    import numpy as np

    from ..errors import UserError
    from ..inference.embedder import Embedder
    from ..inference.scenes import embed_faces, faces_of_images
    from ..pretrained import resolve_model
    from . import scenes

    if args.align:
        raise UserError("--align with --all-faces: every face is aligned already; drop --align")
    embedder, detector = Embedder(resolve_model(args.model)), scenes.detector_for(args)
    rows, parts = [], []
    for f, _image, faces in faces_of_images(files, explicit, detector, warn):
        if not faces:
            warn(f"warning: {f}: no face found")
        rows.extend({"image": str(f), **x.location()} for x in faces)
        parts.append(embed_faces(embedder, faces))
    if not rows:
        raise UserError(
            f"no face found in any of the {len(files)} images; for small faces try --min-face 12, and for images that "
            "are face crops already drop --all-faces"
        )
    return rows, np.concatenate(parts), embedder.fingerprint
