"""The serving install of two git revisions side by side: `pip install .` (no extras) into a fresh venv each,
then its size, what it pulled in, and `lrface identify` start-up (wall time of one probe against a small
gallery, median of --runs). Prints a Markdown table.

    python tools/bench_install.py 3e96032 HEAD --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HEAVY = ("torch", "onnx", "matplotlib", "scipy", "pyyaml", "tqdm")


def sh(*cmd, **kw) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw).stdout


def faces(root: Path, identities: int = 5, per: int = 3) -> None:
    """Small generated identity folder: enough for a gallery and one probe (start-up is what is measured)."""
    rng = np.random.default_rng(0)
    for k in range(identities):
        base = rng.integers(0, 255, (16, 16, 3))
        for n in range(per):
            (root / f"id_{k}").mkdir(parents=True, exist_ok=True)
            img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f"id_{k}" / f"{n}.png")


def du(path: Path) -> int:
    return int(sh("du", "-sk", path).split()[0]) * 1024


def measure(repo: Path, rev: str, work: Path, runs: int) -> dict:
    src, venv = work / f"src-{rev}", work / f"venv-{rev}"
    src.mkdir()
    archive = subprocess.run(["git", "-C", repo, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    sh(sys.executable, "-m", "venv", venv)
    empty = du(venv)
    t0 = time.perf_counter()
    sh(venv / "bin" / "pip", "install", "-q", "--no-compile", src)
    install_s = time.perf_counter() - t0
    listed = sh(venv / "bin" / "pip", "list", "--format=freeze").split()
    names = {line.split("==")[0].lower() for line in listed}
    lrface = venv / "bin" / "lrface"
    gallery = work / f"gallery-{rev}"
    sh(lrface, "gallery", "build", work / "faces", "--out", gallery)
    probe = work / "faces" / "id_0" / "0.png"
    times = []
    for _ in range(runs + 1):  # the first run warms the page cache and writes __pycache__; not counted
        t0 = time.perf_counter()
        sh(lrface, "identify", probe, "--gallery", gallery)
        times.append(time.perf_counter() - t0)
    version = sh(lrface, "--version").strip()
    return {
        "rev": rev,
        "version": version,
        "size_mb": (du(venv) - empty) / 2**20,
        "dists": len(names) - len({"pip", "setuptools", "wheel"} & names),
        "heavy": ", ".join(h for h in HEAVY if h in names) or "none",
        "install_s": install_s,
        "identify_s": statistics.median(times[1:]),
        "identify_min_s": min(times[1:]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revs", nargs="+", help="git revisions to compare (e.g. the last release and HEAD)")
    ap.add_argument("--runs", type=int, default=5, help="timed `lrface identify` runs per revision")
    args = ap.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="lrface-install-") as tmp:
        work = Path(tmp)
        faces(work / "faces")
        rows = [measure(repo, rev, work, args.runs) for rev in args.revs]
    print(
        "| revision | version | venv size (MB, over an empty venv) | distributions | of torch/onnx/matplotlib/scipy/pyyaml/tqdm | pip install (s) | `lrface identify` wall, median (min) (s) |"
    )
    print("|---|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['rev']} | {r['version']} | {r['size_mb']:.0f} | {r['dists']} | {r['heavy']} | {r['install_s']:.0f} "
            f"| {r['identify_s']:.2f} ({r['identify_min_s']:.2f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
