"""Open-set validation during training: verification pairs among identities held out of training.

Each stream's feature (the embedding) of every held-out image, cosine similarity per pair, and the
verification protocol of ``lrface evaluate --pairs`` (10-fold accuracy, TAR at FAR 1e-2, ROC AUC), and the
dense TAR at FAR 1e-3 over every pair of the held-out faces (the protocol's 3,000 impostors cannot resolve
FAR 1e-3; 1,200 faces of 40 people give about 700,000; at most DENSE_FACES faces are read).
``best.pt`` follows ``train.select_metric``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.multi import open_set_pairs
from ..evaluation.verification import dense_tar, verification_metrics

DENSE_FACES = 5000  # the dense TAR reads a seeded subset of at most this many held-out faces (~12.5 M pairs)
SELECT_KEYS = {"acc": "val_open_acc", "dense_tar1e-3": "val_open_dense_tar1e-3"}  # train.select_metric -> column


class OpenSetValidation:
    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int, n_pairs: int):
        self.images, self.labels = images, np.asarray(labels)
        n = len(self.labels)
        rng = np.random.default_rng([seed, 0xD3])
        self.dense = np.sort(rng.choice(n, DENSE_FACES, replace=False)) if n > DENSE_FACES else np.arange(n)
        self.a, self.b, self.same, self.fold = open_set_pairs(labels, seed, n_pairs)

    @torch.inference_mode()
    def __call__(self, trainer) -> dict[str, float]:
        """``val_open_{acc,acc_std,tar1e-2,auc,dense_tar1e-3}_{stream}`` (percent, AUC as a fraction) per stream."""
        row = {}
        bs = trainer.cfg.train.eval_batch_size
        for name, m in trainer.eval_streams.items():
            m.eval()
            feats = []
            for i in range(0, len(self.images), bs):
                with trainer.autocast:
                    feats.append(m(trainer.to_input(self.images[i : i + bs])).feature.float().cpu())
            f = torch.nn.functional.normalize(torch.cat(feats), dim=1).numpy().astype(np.float64)
            scores = np.sum(f[self.a] * f[self.b], axis=1)
            res = verification_metrics(scores, self.same, self.fold, fars=(1e-2,))
            row.update(
                {
                    f"val_open_acc_{name}": 100 * res["accuracy"],
                    f"val_open_acc_std_{name}": 100 * res["accuracy_std"],
                    f"val_open_tar1e-2_{name}": 100 * res["tar_at_far"][0]["tar"],
                    f"val_open_auc_{name}": res["auc"],
                    f"val_open_dense_tar1e-3_{name}": 100
                    * dense_tar(f[self.dense], self.labels[self.dense], (1e-3,))[1e-3],
                }
            )
        return row
