"""Items to low-resolution images, batch by batch: load, skip the unusable and duplicates, align
from given landmarks or detect, then degrade with each item's own seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lrface.imageio import BadImage, read_image

from .align import align_face, usable_points
from .degrade import degrade, item_seed
from .locate import detect_and_align
from .options import PrepareConfig, min_side
from .readers import Item


def _load(path: Path):
    """(image, sha1 of the file, '') or (None, '', reason)."""
    try:
        image = read_image(path)
        return image, hashlib.sha1(path.read_bytes()).hexdigest(), ""
    except BadImage as e:
        return None, "", e.reason
    except OSError:
        return None, "", "unreadable"


class Processor:
    """Turns batches of items into (low-res image, status) with one detector and one degradation pipeline."""

    def __init__(self, cfg: PrepareConfig):
        from .detect import FaceDetector

        self.cfg = cfg
        self.detector = FaceDetector(batch_size=cfg.batch_size)
        self.pipeline = cfg.degradation().pipeline()

    def run(self, items: list[Item], loaded: dict, seen: set, seed: int):
        """Process one batch; returns low-res images, statuses, duplicate keys and aligned crops."""
        cfg, n = self.cfg, len(items)
        crops: list[np.ndarray | None] = [None] * n
        statuses, dupkeys, requests = [""] * n, [""] * n, []
        for i, it in enumerate(items):
            if it.status:
                statuses[i] = it.status
                continue
            image, digest, reason = loaded[it.path]
            if image is None:
                statuses[i] = f"skipped:{reason}"
                continue
            if min(image.shape[:2]) < min_side(cfg.size):
                statuses[i] = "skipped:too-small"
                continue
            pts = None if it.points is None else np.round(it.points, 2).tolist()
            dupkeys[i] = f"{digest}:{json.dumps([it.box, pts])}"
            if dupkeys[i] in seen:
                statuses[i] = "skipped:duplicate"
                continue
            seen.add(dupkeys[i])
            if usable_points(it.points):
                try:
                    crops[i], statuses[i] = align_face(image, it.points, cfg.work_size), "aligned"
                    continue
                except ValueError:
                    pass
            requests.append((i, image, it.box))
        results = detect_and_align(self.detector, [r[1] for r in requests], [r[2] for r in requests], cfg)
        for (i, _, _), (crop, status) in zip(requests, results):
            crops[i], statuses[i] = crop, status
        low = np.zeros((n, cfg.size, cfg.size, 3), np.uint8)
        for i, crop in enumerate(crops):
            if crop is not None:
                low[i] = degrade(crop, self.pipeline, item_seed(seed, items[i].key))
        return low, statuses, dupkeys, crops


def process_chunk(chunk, processor, pool, seen, cfg, want_previews, bar):
    """Process one cache chunk batch by batch, loading the next batch's images while this one runs."""
    batches = [chunk[i : i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]

    def submit(batch):
        paths = dict.fromkeys(it.path for it in batch if not it.status)
        return {p: pool.submit(_load, p) for p in paths}

    lows, statuses, dupkeys, pidx, pcrops = [], [], [], [], []
    pending = submit(batches[0])
    for b, batch in enumerate(batches):
        loaded = {p: f.result() for p, f in pending.items()}
        if b + 1 < len(batches):
            pending = submit(batches[b + 1])
        low, st, dk, crops = processor.run(batch, loaded, seen, cfg.seed)
        for j, crop in enumerate(crops):
            if crop is not None and len(pcrops) < want_previews:
                pidx.append(b * cfg.batch_size + j)
                pcrops.append(crop)
        lows.append(low)
        statuses += st
        dupkeys += dk
        del loaded
        bar.update(len(batch))
    empty = np.zeros((0, cfg.work_size, cfg.work_size, 3), np.uint8)
    return np.concatenate(lows), statuses, dupkeys, pidx, np.stack(pcrops) if pcrops else empty
