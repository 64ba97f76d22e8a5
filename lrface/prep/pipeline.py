"""Prepare a packed set from dataset items: load, detect + align (or align from given landmarks),
degrade, split, write. Work is cached in ``<out>/.work/`` in atomic chunks so that a killed run
resumes without redoing finished items; the manifest is written last and the cache removed after.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .finish import finish
from .options import WORK_DIR, PrepareConfig, Result, check_out_dir
from .process import Processor, process_chunk
from .readers import Item
from .work_cache import load_chunk, open_work, save_chunk, work_fingerprint

PREVIEW_COUNT = 32


def prepare(
    items: list[Item],
    out: str | Path,
    cfg: PrepareConfig,
    kind: str,
    root: str | Path,
    progress: bool | None = None,
    log=print,
) -> Result:
    """Run the whole preparation for ``items`` into the packed set ``out``; returns counts for the summary."""
    from tqdm import tqdm

    cfg.validate()
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # read_image reports it
    out, root = Path(out), Path(root)
    check_out_dir(out, cfg.force)
    work = out / WORK_DIR
    open_work(work, work_fingerprint(items, cfg, kind, str(root.resolve())), log)

    import torch

    torch.set_num_threads(1)
    processor: Processor | None = None
    n_chunks = -(-len(items) // cfg.chunk_size)
    lows, statuses, preview_crops, preview_lows = [], [], [], []
    seen: set[str] = set()
    resumed = processed = 0
    bar = tqdm(
        total=len(items),
        unit="img",
        desc="prepare",
        disable=(not progress) if progress is not None else None,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        for c in range(n_chunks):
            chunk = items[c * cfg.chunk_size : (c + 1) * cfg.chunk_size]
            path = work / f"chunk_{c:05d}.npz"
            cached = load_chunk(path, len(chunk), cfg.size) if path.is_file() else None
            if cached is None:
                processor = processor or Processor(cfg)
                cached = process_chunk(chunk, processor, pool, seen, cfg, PREVIEW_COUNT - len(preview_crops), bar)
                save_chunk(path, *cached)
                processed += len(chunk)
            else:
                resumed += len(chunk)
                bar.update(len(chunk))
            low, st, dk, pidx, pcrops = cached
            seen.update(d for d in dk if d)
            lows.append(low)
            statuses += list(st)
            for j, crop in zip(pidx, pcrops):
                if len(preview_crops) < PREVIEW_COUNT:
                    preview_crops.append(crop)
                    preview_lows.append(low[j])
    bar.close()
    return finish(
        items,
        out,
        cfg,
        kind,
        root,
        np.concatenate(lows) if lows else np.zeros((0,)),
        statuses,
        preview_crops,
        preview_lows,
        resumed,
        processed,
    )
