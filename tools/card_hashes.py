"""Check (default) or write (--write) the sha256 and size of each packaged ONNX file into its model card.

    python tools/card_hashes.py [--write] [--root lrface/pretrained]

Run with --write after replacing a packaged model; without it, prints one row per model and exits 1 when a
card does not match its file (what `lrface models` reports as DAMAGED).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="record each file's sha256 and size in its card")
    ap.add_argument("--root", type=Path, default=REPO / "lrface" / "pretrained", help="packaged model folder")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from lrface.fileio import atomic_write_text
    from lrface.model_integrity import file_sha256

    names = json.loads((a.root / "index.json").read_text(encoding="utf-8"))["models"]
    mismatches = 0
    for name in names:
        onnx, card_path = a.root / f"{name}.onnx", a.root / f"{name}.json"
        card = json.loads(card_path.read_text(encoding="utf-8"))
        sha, size = file_sha256(onnx), onnx.stat().st_size
        ok = card.get("sha256") == sha and card.get("size_bytes") == size
        if a.write and not ok:
            card.update(sha256=sha, size_bytes=size)
            atomic_write_text(card_path, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        mismatches += not ok and not a.write
        print(f"{name:24} {sha[:16]}  {size:>10,} B  {'ok' if ok else 'written' if a.write else 'MISMATCH'}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
