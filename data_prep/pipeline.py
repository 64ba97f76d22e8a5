"""Prepare a packed set from dataset items: load, detect + align (or align from given landmarks),
degrade, split, write. Work is cached in ``<out>/.work/`` in atomic chunks so that a killed run
resumes without redoing finished items; the manifest is written last and the cache removed after.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lrface.data.packed import is_packed_set, write_packed_set
from lrface.errors import UserError
from lrface.fileio import atomic_write, atomic_write_json
from lrface.imageio import BadImage, read_image

from .align import WORK_SIZE, align_face, box_matrix, similarity_matrix, usable_points, warp
from .degrade import Degradation, degrade, item_seed
from .readers import Item

KEPT = ("aligned", "box-only")
WORK_DIR = ".work"
PREVIEW_COUNT = 32


@dataclass
class PrepareConfig:
    """Options of `lrface prepare`; see ``processing()`` for those that change per-item results."""

    size: int = 16
    downsample: str = "area"
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 0
    fallback: str = "box"
    split_fraction: float = 0.0
    seed: int = 0
    workers: int = 1
    batch_size: int = 32
    force: bool = False
    work_size: int = WORK_SIZE
    chunk_size: int = 512
    min_face: int = 20
    max_side: int = 640
    region: int = 160
    box_enlarge: float = 1.6

    def validate(self) -> None:
        if not 8 <= self.size <= 64:
            raise UserError(f"--size {self.size}: must be between 8 and 64")
        if self.downsample not in ("area", "bicubic"):
            raise UserError(f"--downsample {self.downsample}: use area or bicubic")
        if self.blur < 0 or self.noise < 0:
            raise UserError("--blur and --noise must be >= 0")
        if not (self.jpeg_quality == 0 or 1 <= self.jpeg_quality <= 100):
            raise UserError(f"--jpeg-quality {self.jpeg_quality}: use 1..100, or 0 for none")
        if self.fallback not in ("box", "skip"):
            raise UserError(f"--no-detect-fallback {self.fallback}: use skip or box")
        if not 0 <= self.split_fraction < 1:
            raise UserError(f"--split-fraction {self.split_fraction}: must be in [0, 1)")
        if self.workers < 1 or self.batch_size < 1:
            raise UserError("--workers and --batch-size must be >= 1")

    def degradation(self) -> Degradation:
        return Degradation(self.size, self.downsample, self.blur, self.noise, self.jpeg_quality)

    def processing(self) -> dict:
        d = asdict(self)
        for k in ("split_fraction", "workers", "batch_size", "force"):
            d.pop(k)
        return d


@dataclass
class Result:
    out: Path
    counts: Counter
    splits: dict[str, int]
    n_classes: int
    resumed: int
    processed: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        skipped = {k.split(":", 1)[1]: v for k, v in sorted(self.counts.items()) if k.startswith("skipped:")}
        kept = self.counts["aligned"] + self.counts["box-only"]
        skip_text = ", ".join(f"{k} {v}" for k, v in skipped.items()) or "none"
        splits = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        return (
            f"kept {kept} (aligned {self.counts['aligned']}, box-only {self.counts['box-only']}); "
            f"skipped {sum(skipped.values())} ({skip_text}); {self.n_classes} identities; splits: {splits}; "
            f"processed {self.processed}, resumed {self.resumed}; wrote {self.out}"
        )


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse an existing, non-empty --out that is neither a packed set nor our own interrupted work."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; choose another --out")
    if (out / WORK_DIR / "run.json").is_file() or is_packed_set(out) or force or not any(out.iterdir()):
        return
    raise UserError(f"{out}: exists and is not a packed set; choose another --out or pass --force to write into it")


def made_by(out: str | Path, cfg: PrepareConfig, kind: str, root: str | Path) -> bool:
    """Whether ``out`` is a complete packed set made from ``root`` with these options (nothing to redo)."""
    try:
        m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
        params = {k: m["params"].get(k) for k in (*cfg.processing(), "kind", "split_fraction")}
        return m["source"] == str(Path(root).resolve()) and params == {
            **cfg.processing(),
            "kind": kind,
            "split_fraction": cfg.split_fraction,
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def min_side(size: int) -> int:
    """Fewest pixels an image side needs to be prepared at ``size`` (a quarter of it, at least 4)."""
    return max(4, size // 4)


def _load(path: Path):
    """(image, sha1 of the file, '') or (None, '', reason)."""
    try:
        image = read_image(path)
        return image, hashlib.sha1(path.read_bytes()).hexdigest(), ""
    except BadImage as e:
        return None, "", e.reason
    except OSError:
        return None, "", "unreadable"


def _fingerprint(items: list[Item], cfg: PrepareConfig, kind: str, root: str) -> str:
    h = hashlib.sha1(json.dumps({"cfg": cfg.processing(), "kind": kind, "root": root}, sort_keys=True).encode())
    for it in items:
        pts = None if it.points is None else np.round(it.points, 3).tolist()
        h.update(json.dumps([it.key, str(it.path), it.box, pts, it.status]).encode())
    return h.hexdigest()


def _canvas(image: np.ndarray, box, cfg: PrepareConfig):
    """Detection input, its min face size, the canvas->image map (scale, offset) and the box hint."""
    if box is not None:
        x, y, w, h = box
        side = cfg.box_enlarge * max(w, h)
        ox, oy = x + w / 2 - side / 2, y + h / 2 - side / 2
        s = cfg.region / side
        canvas = warp(image, np.array([[s, 0, -ox * s], [0, s, -oy * s]]), cfg.region)
        hint = np.array([x - ox, y - oy, x - ox + w, y - oy + h]) * s
        return canvas, max(cfg.min_face, cfg.region / 4), s, (ox, oy), hint
    s = min(1.0, cfg.max_side / max(image.shape[:2]))
    canvas = (
        image
        if s == 1.0
        else cv2.resize(
            image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))), interpolation=cv2.INTER_AREA
        )
    )
    return canvas, cfg.min_face, s, (0.0, 0.0), None


def detect_and_align(
    detector, images: list[np.ndarray], boxes: list, cfg: PrepareConfig
) -> list[tuple[np.ndarray | None, str]]:
    """Detect faces (MTCNN, batched) and align each image's face to the working crop, as `lrface prepare`
    does: (crop, "aligned"), the box fallback (crop, "box-only"), or (None, "skipped:no-face").
    ``boxes[i]`` is a known face box (x, y, w, h) or None to take the largest face in the whole image."""
    return [
        (None if m is None else warp(im, m, cfg.work_size), status)
        for im, (m, status) in zip(images, locate(detector, images, boxes, cfg))
    ]


def locate(detector, images: list[np.ndarray], boxes: list, cfg: PrepareConfig) -> list[tuple[np.ndarray | None, str]]:
    """What ``detect_and_align`` warps with: (2 x 3 image -> working-crop map, status) per image."""
    from .detect import pick_face

    canvases = [_canvas(im, box, cfg) for im, box in zip(images, boxes)]
    found = detector.detect([c[0] for c in canvases], [c[1] for c in canvases])
    out: list[tuple[np.ndarray | None, str]] = []
    for image, box, (_, _, s, offset, hint), faces in zip(images, boxes, canvases, found):
        j = pick_face(faces, hint)
        if j is not None:
            out.append((similarity_matrix(faces.points[j] / s + offset, cfg.work_size), "aligned"))
        elif cfg.fallback == "box":
            out.append((box_matrix(box or (0, 0, image.shape[1], image.shape[0]), cfg.work_size), "box-only"))
        else:
            out.append((None, "skipped:no-face"))
    return out


class _Processor:
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


def _save_chunk(path: Path, low, statuses, dupkeys, preview_idx, preview_crops) -> None:
    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(
                fh,
                low=low,
                meta=np.array(json.dumps({"status": statuses, "dup": dupkeys})),
                preview_idx=np.asarray(preview_idx, np.int64),
                preview=np.asarray(preview_crops, np.uint8),
            )

    atomic_write(path, write)


def _load_chunk(path: Path, n: int, size: int):
    """A finished work chunk of ``n`` items, or None when it is missing or damaged (then it is redone)."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            low, status, dup, pidx, preview = z["low"], meta["status"], meta["dup"], z["preview_idx"], z["preview"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError):
        return None
    if (
        low.shape != (n, size, size, 3)
        or len(status) != n
        or len(dup) != n
        or len(pidx) != len(preview)
        or any(not 0 <= j < n for j in pidx.tolist())
    ):
        return None
    return low, status, dup, pidx, preview


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _assign_splits(items: list[Item], statuses: list[str], fraction: float, seed: int):
    """Split name per item ('' for skipped) and the identities that have a single kept image."""
    kept = [i for i, s in enumerate(statuses) if s in KEPT]
    by_id: dict[str, list[int]] = {}
    for i in kept:
        by_id.setdefault(items[i].identity, []).append(i)
    singles = sorted((k for k, v in by_id.items() if len(v) == 1), key=_natural)
    split = [""] * len(items)
    if any(items[i].split for i in kept):
        for i in kept:
            split[i] = items[i].split or "train"
    elif fraction > 0:
        for ident, idx in by_id.items():
            rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha1(ident.encode()).digest()[:4], "little")])
            n_test = min(len(idx) - 1, max(1, round(len(idx) * fraction))) if len(idx) > 1 else 0
            test = set(rng.permutation(idx)[:n_test].tolist())
            for i in idx:
                split[i] = "test" if i in test else "train"
    else:
        for i in kept:
            split[i] = "all"
    return split, singles


def _preview(crops: np.ndarray, lows: np.ndarray) -> np.ndarray:
    """Grid of (aligned crop | low-res upscaled with nearest) pairs, 4 pairs a row, RGB."""
    size, gap, per_row = crops.shape[1], 4, 4
    cells = [
        np.concatenate(
            [c, np.full((size, gap, 3), 255, np.uint8), cv2.resize(lo, (size, size), interpolation=cv2.INTER_NEAREST)],
            axis=1,
        )
        for c, lo in zip(crops, lows)
    ]
    blank = np.full_like(cells[0], 255)
    cells += [blank] * (-len(cells) % per_row)
    pad = np.full((size, gap * 3, 3), 255, np.uint8)
    rows = [
        np.concatenate(sum(([c, pad] for c in cells[r : r + per_row]), [])[:-1], axis=1)
        for r in range(0, len(cells), per_row)
    ]
    hpad = np.full((gap * 3, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate(sum(([r, hpad] for r in rows), [])[:-1], axis=0)


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
    fingerprint = _fingerprint(items, cfg, kind, str(root.resolve()))
    try:
        previous = json.loads((work / "run.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    if previous != fingerprint:
        if work.exists():
            if previous is not None:
                log(f"{work}: cached work is from other inputs or options; starting over")
            shutil.rmtree(work)
        atomic_write_json(work / "run.json", {"lrface_work": 1, "fingerprint": fingerprint})

    import torch

    torch.set_num_threads(1)
    processor: _Processor | None = None
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
            cached = _load_chunk(path, len(chunk), cfg.size) if path.is_file() else None
            if cached is None:
                processor = processor or _Processor(cfg)
                cached = _process_chunk(chunk, processor, pool, seen, cfg, PREVIEW_COUNT - len(preview_crops), bar)
                _save_chunk(path, *cached)
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
    return _finish(
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


def _process_chunk(chunk, processor, pool, seen, cfg, want_previews, bar):
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


def _finish(items, out, cfg, kind, root, lows, statuses, preview_crops, preview_lows, resumed, processed) -> Result:
    counts = Counter(statuses)
    if not any(s in KEPT for s in statuses):
        raise UserError(
            f"no face kept out of {len(items)} items ({dict(counts)}); check the input and --no-detect-fallback"
        )
    split, singles = _assign_splits(items, statuses, cfg.split_fraction, cfg.seed)
    class_names = sorted({items[i].identity for i, s in enumerate(split) if s}, key=_natural)
    label_of = {name: k for k, name in enumerate(class_names)}
    order = [n for n in ("train", "test", "all") if n in split]
    index_in: dict[int, int] = {}
    splits = {}
    for name in order:
        idx = [i for i, s in enumerate(split) if s == name]
        index_in.update({i: k for k, i in enumerate(idx)})
        splits[name] = (lows[idx], np.array([label_of[items[i].identity] for i in idx], np.int64))
    rows = [
        {
            "split": split[i],
            "index": index_in.get(i, ""),
            "label": label_of.get(it.identity, "") if split[i] else "",
            "identity": it.identity,
            "source": it.source,
            "status": statuses[i],
        }
        for i, it in enumerate(items)
    ]
    params = {
        "kind": kind,
        **cfg.processing(),
        "split_fraction": cfg.split_fraction,
        "template": "arcface-112 (data_prep.align.TEMPLATE)",
        "status_counts": dict(sorted(counts.items())),
    }
    write_packed_set(out, splits, class_names, rows, params=params, source=str(root.resolve()))
    if preview_crops:
        grid = cv2.cvtColor(_preview(np.stack(preview_crops), np.stack(preview_lows)), cv2.COLOR_RGB2BGR)
        atomic_write(out / "preview.png", lambda p: p.write_bytes(cv2.imencode(".png", grid)[1].tobytes()))
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    warnings = []
    if singles:
        warnings.append(
            f"{len(singles)} identities have a single image (kept; they cannot be tested): "
            f"{', '.join(singles[:10])}{' ...' if len(singles) > 10 else ''}"
        )
    if counts.get("skipped:too-small"):
        warnings.append(
            f"{counts['skipped:too-small']} images with a side under {min_side(cfg.size)} px (too small "
            "to hold a face) skipped; see items.csv"
        )
    if counts.get("skipped:duplicate"):
        warnings.append(f"{counts['skipped:duplicate']} duplicate files (same content) skipped; see items.csv")
    return Result(
        out, counts, {k: len(v[1]) for k, v in splits.items()}, len(class_names), resumed, processed, warnings
    )
