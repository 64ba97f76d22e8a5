"""Benchmark pictures (matplotlib, Agg): training curves, capability gap (Fig. 1c), t-SNE (Fig. 3), CMC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {
    "student-only": "tab:gray",
    "teacher-only": "tab:brown",
    "kd": "tab:blue",
    "kd-et": "tab:orange",
    "ekd": "tab:red",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(name: str, i: int) -> str:
    return COLOURS.get(name, f"C{(i + 5) % 10}")


def _metrics(run_dir: str) -> list[dict]:
    from .engine.metrics_log import read_metrics

    return read_metrics(Path(run_dir))


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["epoch"], r[key]) for r in rows if key in r]
    return (np.array([p[0] for p in pts]), np.array([p[1] for p in pts])) if pts else (np.array([]), np.array([]))


def _save(fig, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        if ax.get_xlabel() in ("epoch", "rank"):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    _plt().close(fig)


def training_curves(results: dict, path: Path) -> None:
    """Per method: training loss and validation top-1 of the deployed model per epoch."""
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, r) in enumerate(results.items()):
        rows = _metrics(r["run_dir"])
        stream = "student" if r.get("student_params") else "teacher"
        split = "val" if any(f"val_top1_{stream}" in row for row in rows) else "test"
        ax_loss.plot(*_series(rows, f"loss_{stream}"), color=_colour(name, i), label=f"{name} ({stream})")
        ax_acc.plot(*_series(rows, f"{split}_top1_{stream}"), color=_colour(name, i), label=f"{name} ({stream})")
    ax_loss.set(
        title="Training loss of the learning stream",
        xlabel="epoch",
        ylabel="loss (Eq. 11: each method sums its own terms)",
    )
    ax_loss.set_yscale("log")
    ax_acc.set(title=f"Top-1 on the {split} split", xlabel="epoch", ylabel="top-1 accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


def capability_gap(results: dict, path: Path) -> None:
    """Teacher and student test top-1 per epoch, shaded gap; KD beside EKD (the paper's Fig. 1c)."""
    plt = _plt()
    names = [n for n in ("kd", "kd-et", "ekd") if n in results]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(max(7.0, 4.6 * len(names)), 4), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = _metrics(results[name]["run_dir"])
        ep, t = _series(rows, "test_top1_teacher")
        _, s = _series(rows, "test_top1_student")
        ax.plot(ep, t, color="tab:brown", label="teacher")
        ax.plot(ep, s, color=_colour(name, 0), label="student")
        ax.fill_between(ep, s, t, color="tab:gray", alpha=0.2, label="capability gap")
        teacher = "fixed, pre-trained" if results[name]["strategy"] == "kd" else "evolutionary"
        ax.set(title=f"{name}: {teacher} teacher", xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    if not names:
        axes[0][0].text(0.5, 0.5, "no method with both a teacher and a student was run", ha="center", va="center")
        axes[0][0].set_axis_off()
    axes[0][0].set_ylabel("top-1 on the test split (%)")
    fig.suptitle("Capability gap between teacher and student during training")
    _save(fig, path)


def tsne(embeddings: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str], path: Path, seed: int = 0) -> None:
    """Side-by-side 2-D t-SNE of student embeddings, one colour per identity."""
    from sklearn.manifold import TSNE

    plt = _plt()
    n = max(1, len(embeddings))
    fig, axes = plt.subplots(1, n, figsize=(max(7.0, 4.4 * n), 4.6), squeeze=False)
    for ax, (method, (emb, labels)) in zip(axes[0], embeddings.items()):
        perplexity = float(min(30, max(2, (len(emb) - 1) // 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(emb)
        for j, lab in enumerate(np.unique(labels)):
            m = labels == lab
            ax.scatter(xy[m, 0], xy[m, 1], s=14, color=plt.cm.tab10(j % 10), label=names[lab])
        ax.set(title=f"{method} student", xticks=[], yticks=[])
    axes[0][0].legend(fontsize=7, title="identity", loc="best")
    fig.suptitle(f"t-SNE of student embeddings ({len(np.unique(labels))} identities, train + test images)")
    _save(fig, path)


def cmc(results: dict, path: Path) -> None:
    """CMC of every exported student (gallery = train split, probes = test split)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, r) in enumerate(results.items()):
        if r.get("cmc"):
            ranks = np.arange(1, len(r["cmc"]) + 1)
            ax.plot(
                ranks,
                100 * np.asarray(r["cmc"]),
                marker="o",
                ms=3,
                color=_colour(name, i),
                label=f"{name} (rank-1 {100 * r['cmc'][0]:.1f} %)",
            )
    ax.set(
        title="CMC of the exported ONNX students: test probes vs enrolled train split",
        xlabel="rank",
        ylabel="identification rate (%)",
        ylim=(0, 100.5),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def tsne_inputs(results: dict, data_dir: Path, identities: int) -> tuple[dict, list[str]]:
    """Embeddings (via each exported ONNX student) of the ``identities`` largest identities."""
    from .data.packed import read_packed_set
    from .inference.embedder import Embedder

    ps = read_packed_set(data_dir, mmap=False)
    images = np.concatenate([ps.splits[s][0] for s in ("train", "test")])
    labels = np.concatenate([ps.splits[s][1] for s in ("train", "test")])
    counts = np.bincount(labels, minlength=len(ps.class_names))
    chosen = np.sort(np.argsort(-counts, kind="stable")[:identities])
    mask = np.isin(labels, chosen)
    out = {}
    for name in ("student-only", "kd", "ekd"):
        if name in results and results[name].get("onnx"):
            out[name] = (Embedder(results[name]["onnx"]).embed(images[mask]), labels[mask])
    return out, ps.class_names


def write_plots(results: dict, data_dir: Path, out: Path, tsne_identities: int = 10) -> list[str]:
    """All benchmark pictures into ``out``; returns their file names."""
    written = ["training_curves.png", "capability_gap.png", "cmc.png"]
    training_curves(results, out / written[0])
    capability_gap(results, out / written[1])
    cmc(results, out / written[2])
    embeddings, names = tsne_inputs(results, data_dir, tsne_identities)
    if embeddings:
        tsne(embeddings, names, out / "tsne.png")
        written.append("tsne.png")
    return written
