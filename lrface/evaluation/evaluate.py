"""Evaluation drivers behind `lrface evaluate` (reusable by benchmarks; torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imageio import BadImage
from ..inference.embedder import Embedder
from ..inference.folders import scan_identity_folder
from ..inference.gallery import Gallery
from ..inference.identify import open_gallery
from .metrics import evaluate_matches
from .verification import DEFAULT_FARS, metrics_from_embeddings, parse_pairs


def _search_and_score(gallery: Gallery, embeddings: np.ndarray, truth: list[str], fars, max_rank: int) -> dict:
    names = {n for n, _ in gallery.identities()}
    matches = gallery.search(embeddings, max(max_rank, 5))
    return evaluate_matches(matches, truth, names, fars, min(max_rank, len(names)))


def evaluate_folder(gallery_path, probe_dir, model, fars, max_rank: int, warn=print) -> dict:
    """Probes from an identity folder against a saved gallery (or plain folder, cached)."""
    gallery, embedder = open_gallery(gallery_path, model, log=warn)
    images, truth = [], []
    for name, files in scan_identity_folder(probe_dir).items():
        for f in files:
            try:
                images.append(embedder.load(f))
                truth.append(name)
            except BadImage as e:
                warn(f"warning: skipped {e}")
    if not images:
        raise UserError(f"{probe_dir}: no readable probe images")
    result = _search_and_score(gallery, embedder.embed(images), truth, fars, max_rank)
    result["label"] = f"{Path(probe_dir).name} vs {Path(gallery_path).name}"
    return result


def evaluate_packed(
    packed, model, fars, max_rank: int, template: str = "mean", holdout: float = 0.0, seed: int = 0, warn=print
) -> dict:
    """Train split as gallery (in memory), test split as probes; ``holdout`` identities become unknowns."""
    from ..data.packed import read_packed_set

    ps = read_packed_set(packed)
    if "train" not in ps.splits or "test" not in ps.splits:
        raise UserError(
            f"{packed}: needs train and test splits (has {', '.join(ps.splits)}); prepare it with --split-fraction "
            "(e.g. 0.2), or evaluate a gallery: --gallery G PROBE_DIR"
        )
    if not 0 <= holdout < 1:
        raise UserError("--holdout must be in [0, 1)")
    embedder = Embedder(model)
    names = ps.class_names
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(names), round(holdout * len(names)), replace=False).tolist())
    g_images, g_labels = ps.splits["train"]
    gallery = Gallery.new(embedder, template, "flat")
    g_emb = embedder.embed(np.asarray(g_images))
    g_labels = np.asarray(g_labels)
    with gallery.bulk():
        for label in sorted(set(g_labels.tolist()) - held):
            idx = np.flatnonzero(g_labels == label)
            gallery.add(
                names[label], [f"{packed}#train/{i}" for i in idx], [f"packed:train:{i}" for i in idx], g_emb[idx]
            )
    if gallery.count_identities() < 2:
        warn("warning: the gallery has fewer than 2 identities; closed-set accuracy is trivial")
    p_images, p_labels = ps.splits["test"]
    result = _search_and_score(
        gallery, embedder.embed(np.asarray(p_images)), [names[i] for i in np.asarray(p_labels)], fars, max_rank
    )
    result["label"] = f"{Path(packed).name} test vs train"
    result["held_out_identities"] = sorted(names[i] for i in held)
    return result


def evaluate_pairs(pairs, images_dir, model=None, fars=DEFAULT_FARS, warn=print) -> tuple[dict, np.ndarray, np.ndarray]:
    """Verification on a pairs file: (metrics, score per pair, same per pair). ``model`` None -> the
    default packaged model. Images are aligned at the model's input size once and cached."""
    from ..pretrained import resolve_model
    from .pair_align import aligned_pair_images

    pairs_file = parse_pairs(pairs)
    embedder = Embedder(resolve_model(model))
    images, counts = aligned_pair_images(pairs_file, images_dir, embedder.spec.size, warn)
    keys = pairs_file.keys
    embeddings = dict(zip(keys, embedder.embed([images[k] for k in keys])))
    result, scores = metrics_from_embeddings(pairs_file, embeddings, fars)
    result.update(
        model=str(embedder.path),
        input_size=embedder.spec.size,
        images=len(keys),
        alignment={k: v for k, v in sorted(counts.items())},
        pairs_file=str(Path(pairs).resolve()),
        images_dir=str(Path(images_dir).resolve()),
    )
    return result, scores, np.array([p.same for p in pairs_file.pairs])


def plot_cmc(curve: list[float], path: Path, label: str) -> None:
    """Save the CMC curve as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ranks = np.arange(1, len(curve) + 1)
    ax.plot(ranks, np.asarray(curve) * 100, marker="o", ms=3)
    ax.set(
        xlabel="rank",
        ylabel="identification rate (%)",
        title=f"CMC {label}".strip(),
        ylim=(0, 100.5),
        xlim=(1, max(2, len(curve))),
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
