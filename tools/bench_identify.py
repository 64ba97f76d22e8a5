"""Benchmark serving: `lrface identify` wall time incl. process start (one probe, 10k gallery),
probes/s for a folder of probes, and FAISS flat/IVF/HNSW search time + recall@1 vs exact search.

    python tools/bench_identify.py [--model student.onnx] [--sizes 10000,100000,1000000] [--indexes flat,ivf,hnsw]

Without --model, a randomly initialised streamlined ResNet-18 (the real student architecture,
112-d) is exported to a temporary folder (needs torch; identify itself does not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def export_random_student(tmp: Path) -> Path:
    import torch

    from lrface.engine.checkpoint import save_checkpoint
    from lrface.export import export_onnx
    from lrface.models import build_model
    from lrface.preprocess import PreprocessSpec

    torch.manual_seed(0)
    model = build_model("sresnet18", num_classes=180)
    save_checkpoint(
        {
            "config": {"strategy": "ekd", "student": {"arch": "sresnet18"}},
            "class_names": [f"c{i}" for i in range(180)],
            "preprocess": PreprocessSpec().to_dict(),
            "epoch": 0,
            "step": 0,
            "models": {"student": {f"backbone.{k}": v for k, v in model.state_dict().items()}},
        },
        tmp / "run" / "checkpoints" / "best.pt",
    )
    return export_onnx(tmp / "run", log=lambda m: None)


def clustered(n: int, d: int, rng, per_identity: int = 5, noise: float = 0.35) -> np.ndarray:
    """Unit vectors in identity clusters (per_identity samples around each random centre)."""
    centres = rng.standard_normal((max(1, n // per_identity), d)).astype(np.float32)
    x = centres[np.arange(n) % len(centres)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build_gallery(model: Path, out: Path, n: int, rng) -> None:
    """A saved 'all samples' flat gallery of n synthetic embeddings bound to ``model``."""
    from lrface.inference.embedder import Embedder
    from lrface.inference.gallery import Gallery

    emb = Embedder(model)
    g = Gallery.new(emb, template="all", index_type="flat")
    vecs = clustered(n, emb.dim, rng)
    with g.bulk():
        for i in range(0, n, 5):
            g.add(
                f"person {i // 5:05d}",
                [f"synthetic/{j}" for j in range(i, i + 5)],
                [f"h{j}" for j in range(i, i + 5)],
                vecs[i : i + 5],
            )
    g.save(out)


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time of ``cmd`` after one untimed run. Bytecode is written (PYTHONDONTWRITEBYTECODE
    dropped) as on a normal install; otherwise every run recompiles lrface's modules (~30 ms)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        r = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr}")
    return statistics.median(times[1:])


def steady(fn, seconds: float = 1.0) -> float:
    """Seconds per call of ``fn`` after a warm-up call, over at least ``seconds``."""
    fn()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t) / n


def bench_cli(model: Path, tmp: Path, rng, n_gallery: int, n_probes: int) -> list[tuple[str, str, str]]:
    gal = tmp / "gallery"
    build_gallery(model, gal, n_gallery, rng)
    probes = tmp / "probes"
    probes.mkdir()
    for i in range(n_probes):
        cv2.imwrite(str(probes / f"{i:05d}.png"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    lrface = [sys.executable, "-m", "lrface.cli"]
    t_python = wall([sys.executable, "-c", "pass"], 5)
    t_one = wall(lrface + ["identify", str(probes / "00000.png"), "--gallery", str(gal)], 9)
    t_many = wall(lrface + ["identify", str(probes), "--gallery", str(gal)], 5)
    rate = n_probes / max(t_many - t_one, 1e-9)

    from lrface.inference.identify import open_gallery

    g, emb = open_gallery(gal, None)
    files = sorted(probes.iterdir())
    images = [emb.load(f) for f in files]
    t_read = steady(lambda: [emb.load(f) for f in files])
    t_embed = steady(lambda: emb.embed(images))
    e = emb.embed(images)
    t_search = steady(lambda: g.search(e, 5))
    return [
        ("python -c pass (interpreter start)", f"{t_python * 1000:.0f} ms", ""),
        (f"identify 1 probe vs {n_gallery:,} gallery, incl. start", f"{t_one * 1000:.0f} ms", "goal <= 300 ms"),
        (f"identify folder of {n_probes:,} probes, incl. start", f"{t_many * 1000:.0f} ms", ""),
        ("probes/s after start-up (CLI, difference)", f"{rate:,.0f}", "goal >= 5,000"),
        (f"  in-process, warm: read+decode {n_probes:,} PNGs", f"{n_probes / t_read:,.0f}/s", ""),
        (f"  in-process, warm: ONNX embed {n_probes:,}", f"{n_probes / t_embed:,.0f}/s", ""),
        (f"  in-process, warm: search top-5 of {n_probes:,}", f"{n_probes / t_search:,.0f}/s", ""),
    ]


def bench_ann(sizes: list[int], kinds: list[str], dim: int, n_queries: int, rng) -> list[tuple]:
    import faiss

    from lrface.inference.vector_index import (
        apply_search_params,
        default_index_params,
        fill_index,
        new_index,
    )

    threads = faiss.omp_get_max_threads()
    rows = []
    for n in sizes:
        base = clustered(n, dim, rng)
        picks = rng.integers(0, n, n_queries)
        q = base[picks] + (0.5 / np.sqrt(dim)) * rng.standard_normal((n_queries, dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        exact = faiss.IndexFlatIP(dim)
        exact.add(base)
        truth = exact.search(q, 1)[1][:, 0]
        for kind in kinds:
            params = default_index_params(kind, n)
            index = new_index(kind, dim, params)
            t = time.perf_counter()
            fill_index(index, kind, base, np.arange(n, dtype=np.int64))
            t_build = time.perf_counter() - t
            apply_search_params(index, kind, params)
            faiss.omp_set_num_threads(1)  # single-query latency: OpenMP only adds overhead here
            index.search(q[:10], 1)
            t = time.perf_counter()
            found = np.array([index.search(q[i : i + 1], 1)[1][0, 0] for i in range(n_queries)])
            ms = (time.perf_counter() - t) * 1000 / n_queries
            faiss.omp_set_num_threads(threads)
            recall = float(np.mean(found == truth))
            shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "exact"
            rows.append((f"{n:,}", kind, shown, f"{t_build:.1f}", f"{ms:.3f}", f"{recall:.3f}"))
            print("  " + " | ".join(rows[-1]), flush=True)
            del index
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="student.onnx (default: export a random sresnet18)")
    ap.add_argument("--gallery-size", type=int, default=10_000)
    ap.add_argument("--probes", type=int, default=1_000)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--indexes", default="flat,ivf,hnsw")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--skip-cli", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = Path(args.model) if args.model else export_random_student(tmp)
        if not args.skip_cli:
            rows = bench_cli(model, tmp, rng, args.gallery_size, args.probes)
            print("\n| measurement | value | goal |\n| --- | --- | --- |")
            for r in rows:
                print("| " + " | ".join(r) + " |")
        from lrface.inference.embedder import Embedder

        dim = Embedder(model).dim
    print(
        f"\nANN search, {dim}-d clustered unit vectors (5 per identity), queries = a gallery vector + noise "
        f"(norm 0.5), one query at a time on one thread (builds use all threads), {args.queries} queries:",
        flush=True,
    )
    rows = bench_ann([int(s) for s in args.sizes.split(",")], args.indexes.split(","), dim, args.queries, rng)
    print(
        "\n| gallery | index | params | build s | ms/query | recall@1 vs exact |\n| --- | --- | --- | --- | --- | --- |"
    )
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
