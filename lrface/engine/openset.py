"""Open-set validation during training: verification pairs among identities held out of training.

Each stream's feature (the embedding) of every held-out image, cosine similarity per pair, and the
verification protocol of ``lrface evaluate --pairs`` (10-fold accuracy, TAR at FAR 1e-2, ROC AUC);
``best.pt`` follows the 10-fold accuracy when this split exists.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.multi import open_set_pairs
from ..evaluation.verification import verification_metrics


class OpenSetValidation:
    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int, n_pairs: int):
        self.images = images
        self.a, self.b, self.same, self.fold = open_set_pairs(labels, seed, n_pairs)

    @torch.inference_mode()
    def __call__(self, trainer) -> dict[str, float]:
        """``val_open_{acc,acc_std,tar1e-2,auc}_{stream}`` (percent, AUC as a fraction) for every stream."""
        row = {}
        bs = trainer.cfg.train.eval_batch_size
        for name, m in trainer.streams.items():
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
                }
            )
        return row
