"""Benchmark lrface.prep: images/s for load + MTCNN detection + alignment + degradation, and the
fraction aligned / box-only / skipped, on shared/data/celeba-wild-dev/faces (or --root).

    python tools/bench_prepare.py --limit 1000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    shared = Path(os.environ.get("LRFACE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=shared / "celeba-wild-dev" / "faces", help="identity-folder root")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--blur", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=4.0)
    ap.add_argument("--jpeg-quality", type=int, default=75)
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        print(f"bench_prepare: {args.root} not found (set LRFACE_SHARED_DATA or pass --root)", file=sys.stderr)
        return 2

    from lrface.prep.options import PrepareConfig
    from lrface.prep.pipeline import prepare
    from lrface.prep.readers import read_folder

    items = read_folder(args.root)
    items = items[: args.limit] if args.limit else items
    cfg = PrepareConfig(
        size=args.size,
        blur=args.blur,
        noise=args.noise,
        jpeg_quality=args.jpeg_quality,
        workers=args.workers,
        batch_size=args.batch_size,
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = prepare(
            items, Path(tmp) / "set", cfg, kind="folder", root=args.root, progress=False, log=lambda *_: None
        )
        elapsed = time.perf_counter() - start
    n = len(items)
    skipped = sum(v for k, v in result.counts.items() if k.startswith("skipped:"))
    rows = [
        ("images", f"{n}"),
        ("workers / batch", f"{args.workers} / {args.batch_size}"),
        ("cores available", f"{len(os.sched_getaffinity(0))}"),
        ("seconds (incl. MTCNN load)", f"{elapsed:.1f}"),
        ("images/s", f"{n / elapsed:.1f}"),
        ("aligned", f"{result.counts['aligned'] / n:.1%}"),
        ("box-only", f"{result.counts['box-only'] / n:.1%}"),
        ("skipped", f"{skipped / n:.1%}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'metric'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
