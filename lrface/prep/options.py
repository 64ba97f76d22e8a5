"""Options and result of `lrface prepare`, and the checks on its --out directory."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lrface.data.packed import is_packed_set
from lrface.errors import UserError

from .align import WORK_SIZE
from .degrade import Degradation

KEPT = ("aligned", "box-only")
WORK_DIR = ".work"


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
        for flag, value in (("--blur", self.blur), ("--noise", self.noise)):
            if value < 0:
                raise UserError(f"{flag} {value:g}: must be >= 0 (0 = off)")
        if self.blur > self.work_size / 4:
            raise UserError(
                f"--blur {self.blur:g}: at most {self.work_size / 4:g} (the sigma is at the {self.work_size} px working "
                "size, where a quarter of it already blurs the face away)"
            )
        if self.noise > 255:
            raise UserError(
                f"--noise {self.noise:g}: at most 255 (a std in 0..255 pixel units; 255 is already all noise)"
            )
        if not (self.jpeg_quality == 0 or 1 <= self.jpeg_quality <= 100):
            raise UserError(f"--jpeg-quality {self.jpeg_quality}: use 1..100, or 0 for none")
        if self.fallback not in ("box", "skip"):
            raise UserError(f"--no-detect-fallback {self.fallback}: use skip or box")
        if not 0 <= self.split_fraction < 1:
            raise UserError(f"--split-fraction {self.split_fraction}: must be in [0, 1)")
        for flag, value in (("--workers", self.workers), ("--batch-size", self.batch_size)):
            if value < 1:
                raise UserError(f"{flag} {value}: must be >= 1")

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
    ours = (out / WORK_DIR / "run.json").is_file() or not any(p.name != WORK_DIR for p in out.iterdir())
    if ours or is_packed_set(out) or force:  # ours: our interrupted work, or empty but for a work cache just begun
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
