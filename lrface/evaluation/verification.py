"""Face verification protocol (LFW View 2 style), torch-free pure functions.

``parse_pairs`` reads a pairs file (``N_FOLDS N`` header, then per fold N same-person lines
``name i j`` followed by N different-person lines ``name1 i name2 j``); ``verification_metrics``
turns one cosine score per pair into the protocol's numbers:

- 10-fold accuracy: for each fold, the threshold is the one with the highest accuracy on the other
  folds (candidates: midpoints between consecutive distinct scores, and one below/above all; a pair
  is "same" when its score is at or above the threshold, the rule identify and verify use; ties between equally good thresholds go to the
  median candidate), applied to the held-out fold; mean and (population) sd over folds;
- TAR at FAR: over all pairs, the threshold that lets at most floor(FAR x negatives) different-person
  pairs through (``threshold.threshold_at_far``), and the fraction of same-person pairs accepted;
- ROC AUC (Mann-Whitney, ties counted half).

``metrics_from_embeddings`` is the entry point for any embedder (ONNX students, other baselines):
a mapping image key -> L2-normalised embedding in, the same report out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..inference.threshold import accepts, threshold_at_far

DEFAULT_FARS = (1e-2, 1e-3)


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file: two image keys (``Name/Name_0001.jpg``), same person or not."""

    line: int
    a: str
    b: str
    same: bool
    fold: int


@dataclass(frozen=True)
class PairsFile:
    path: Path
    pairs: list[Pair]
    n_folds: int

    @property
    def keys(self) -> list[str]:
        """Every image named in the file, once, in first-seen order."""
        return list(dict.fromkeys(k for p in self.pairs for k in (p.a, p.b)))

    def key_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's two images as positions in ``keys`` (rows of embeddings computed in that order)."""
        index = {k: i for i, k in enumerate(self.keys)}
        return tuple(np.array([index[getattr(p, side)] for p in self.pairs], dtype=np.int64) for side in "ab")


def image_key(name: str, number: int) -> str:
    """LFW's file naming: ``Name/Name_0001.jpg``."""
    return f"{name}/{name}_{number:04d}.jpg"


def _index(token: str, path, line: int) -> int:
    if not token.isdigit() or int(token) < 1:
        raise UserError(
            f"{path}:{line}: {token!r} is not an image number (1, 2, ...); expected 'name i j' or 'name1 i name2 j'"
        )
    return int(token)


def parse_pairs(path: str | Path) -> PairsFile:
    """Read a pairs file in LFW's View 2 layout; any deviation is a UserError naming the line."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO would block the read
        raise UserError(f"{path}: not a regular file (a device, pipe or socket); pass LFW's pairs.txt")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such pairs file; pass LFW's pairs.txt") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the pairs file ({e})") from None
    rows = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    if not rows:
        raise UserError(f"{path}: empty pairs file; expected a header 'N_FOLDS N' and pair lines")
    head_line, head = rows[0]
    if len(head) != 2 or not all(t.isdigit() and int(t) > 0 for t in head):
        raise UserError(f"{path}:{head_line}: expected the header 'N_FOLDS N' (e.g. '10 300'), got {' '.join(head)!r}")
    n_folds, n = int(head[0]), int(head[1])
    body = rows[1:]
    if len(body) != 2 * n * n_folds:
        where = body[2 * n * n_folds][0] if len(body) > 2 * n * n_folds else len(lines)
        raise UserError(
            f"{path}:{where}: the header promises {n_folds} folds x {2 * n} pairs = "
            f"{2 * n * n_folds} lines, the file has {len(body)}"
        )
    pairs = []
    for k, (line, t) in enumerate(body):
        fold, same = k // (2 * n), (k % (2 * n)) < n
        if same and len(t) == 3:
            a, i, b, j = t[0], t[1], t[0], t[2]
        elif not same and len(t) == 4:
            a, i, b, j = t
        else:
            want = "'name i j' (same person)" if same else "'name1 i name2 j' (different people)"
            raise UserError(f"{path}:{line}: expected {want} at this place of fold {fold + 1}, got {len(t)} fields")
        pairs.append(Pair(line, image_key(a, _index(i, path, line)), image_key(b, _index(j, path, line)), same, fold))
    return PairsFile(path, pairs, n_folds)


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of ``score >= threshold`` on these pairs (candidates are
    midpoints between distinct scores, so no score equals one)."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    u = np.unique(scores)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    order = np.argsort(scores, kind="stable")
    s_sorted, y_sorted = scores[order], same[order]
    # pairs at or below each candidate: rejected; correct = negatives below + positives above
    below = np.searchsorted(s_sorted, cands, side="right")
    neg_below = np.concatenate([[0], np.cumsum(~y_sorted)])[below]
    pos_above = same.sum() - np.concatenate([[0], np.cumsum(y_sorted)])[below]
    acc = (neg_below + pos_above) / len(scores)
    best = np.flatnonzero(acc == acc.max())
    j = best[len(best) // 2]
    return float(cands[j]), float(acc[j])


def fold_accuracies(scores, same, folds) -> tuple[np.ndarray, np.ndarray]:
    """Per fold: (accuracy on the fold, threshold chosen on all other folds)."""
    scores, same, folds = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(folds)
    accs, ths = [], []
    for f in np.unique(folds):
        t, _ = best_threshold(scores[folds != f], same[folds != f])
        test = folds == f
        accs.append(float(np.mean(accepts(scores[test], t) == same[test])))
        ths.append(t)
    return np.array(accs), np.array(ths)


def tar_at_far(scores, same, far: float) -> dict:
    """TAR at the threshold admitting at most floor(far x negatives) different-person pairs."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    neg = scores[~same]
    threshold = threshold_at_far(neg, far)
    if threshold == float("-inf"):  # every negative may pass: report a finite threshold below them all
        threshold = float(neg.min()) - 1.0
    return {
        "far": far,
        "tar": float(np.mean(accepts(scores[same], threshold))),
        "threshold": threshold,
        "measured_far": float(np.mean(accepts(neg, threshold))),
    }


def dense_pairs(emb: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Every pair i < j of the faces ``emb`` (rows L2-normalised) of identities ``labels``: (cosine score,
    same identity, (i, j))."""
    labels, emb = np.asarray(labels), np.asarray(emb, np.float64)
    i, j = np.triu_indices(len(labels), 1)
    return (emb @ emb.T)[i, j], labels[i] == labels[j], (i, j)


def dense_tar(emb: np.ndarray, labels, fars) -> dict:
    """{far: TAR} over every pair of the faces (``dense_pairs``): same-identity pairs genuine, all others
    impostors, each threshold by ``tar_at_far``."""
    scores, same, _ = dense_pairs(emb, labels)
    if same.all() or not same.any():
        raise UserError("dense TAR needs two faces of one identity and two identities")
    return {f: tar_at_far(scores, same, f)["tar"] for f in fars}


def roc_auc(scores, same) -> float:
    """Area under the ROC curve: P(score of a same pair > score of a different pair), ties half."""
    from scipy.stats import rankdata

    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    ranks = rankdata(scores)
    n_pos, n_neg = same.sum(), (~same).sum()
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(scores, same) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at every distinct threshold, from (0, 0) to (1, 1)."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    order = np.argsort(-scores, kind="stable")
    y = same[order]
    last = np.r_[np.flatnonzero(np.diff(scores[order])), len(y) - 1]
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0.0, fp / max(1, (~same).sum())], np.r_[0.0, tp / max(1, same.sum())]


def verification_metrics(scores, same, folds, fars=DEFAULT_FARS) -> dict:
    """Every number of the protocol from one score per pair."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    if same.all() or not same.any():
        raise UserError("verification needs both same-person and different-person pairs")
    if len(np.unique(folds)) < 2:
        raise UserError(
            "verification needs at least 2 folds (each fold's threshold comes from the others); give the pairs "
            "file's header 2 or more folds (N_FOLDS N, e.g. '10 300')"
        )
    accs, ths = fold_accuracies(scores, same, folds)
    return {
        "accuracy": float(accs.mean()),
        "accuracy_std": float(accs.std()),
        "fold_accuracy": accs.tolist(),
        "fold_threshold": ths.tolist(),
        "tar_at_far": [tar_at_far(scores, same, f) for f in fars],
        "auc": roc_auc(scores, same),
        "pairs": len(scores),
        "same_pairs": int(same.sum()),
        "folds": len(accs),
    }


def pair_scores(pairs: list[Pair], embeddings: dict[str, np.ndarray]) -> np.ndarray:
    """Cosine similarity per pair (embeddings are L2-normalised here, whatever the embedder did)."""
    missing = [p for p in pairs if p.a not in embeddings or p.b not in embeddings]
    if missing:
        p = missing[0]
        key = p.a if p.a not in embeddings else p.b
        raise UserError(f"line {p.line}: no embedding for {key} ({len(missing)} pairs lack one)")
    a = np.stack([embeddings[p.a] for p in pairs]).astype(np.float64)
    b = np.stack([embeddings[p.b] for p in pairs]).astype(np.float64)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def metrics_from_embeddings(
    pairs_file: PairsFile, embeddings: dict[str, np.ndarray], fars=DEFAULT_FARS
) -> tuple[dict, np.ndarray]:
    """(metrics, scores) for any embedder: ``embeddings`` maps every image key of the pairs file to a vector."""
    pairs = pairs_file.pairs
    scores = pair_scores(pairs, embeddings)
    return verification_metrics(scores, [p.same for p in pairs], [p.fold for p in pairs], fars), scores


def plot_roc(scores, same, path: Path, label: str = "") -> None:
    """Save the ROC curve (TAR against FAR, log FAR axis) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far, tar = roc_curve(scores, same)
    fig, ax = plt.subplots(figsize=(5, 3.8), dpi=100)
    keep = far > 0
    ax.plot(far[keep], tar[keep] * 100, lw=1.5)
    ax.set(
        xscale="log",
        xlabel="false accept rate",
        ylabel="true accept rate (%)",
        ylim=(0, 100.5),
        xlim=(max(1e-4, far[keep].min() if keep.any() else 1e-4), 1),
        title=f"ROC {label}".strip(),
    )
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
