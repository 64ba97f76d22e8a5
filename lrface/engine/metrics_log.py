"""A run's per-epoch metrics: ``metrics.csv`` (rewritten atomically each epoch) and TensorBoard."""

from __future__ import annotations

import csv
import io
import math
import threading
from pathlib import Path

from ..fileio import atomic_write_text


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of ``run_dir/metrics.csv`` as floats (empty cells left out)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]


def append_metrics(run_dir: Path, row: dict) -> None:
    """Add ``row`` to metrics.csv, dropping rows of this epoch or later (left by a run that was resumed)."""
    path = Path(run_dir) / "metrics.csv"
    rows = []
    if path.is_file():
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < row["epoch"]]
    rows.append(row)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def tensorboard_writer(path: Path):
    """A SummaryWriter, or None where tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    if threading.excepthook is not _quiet_writer_thread:
        _quiet_writer_thread.default = threading.excepthook
        threading.excepthook = _quiet_writer_thread
    return SummaryWriter(str(path))


def _quiet_writer_thread(args) -> None:
    """No traceback for an OSError in TensorBoard's writer thread (a full disk): the writer raises it again in
    the training loop at the next flush, where the CLI reports it as one line."""
    if not (type(args.thread).__name__ == "_AsyncWriterThread" and issubclass(args.exc_type, OSError)):
        _quiet_writer_thread.default(args)


def write_scalars(writer, row: dict) -> None:
    if writer is None:
        return
    for k, v in row.items():
        if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(v):
            writer.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
    writer.flush()


def epoch_summary(row: dict, split: str) -> str:
    """The one line printed per epoch: teacher/student (and weight average) scores, gap and speed."""
    keys = [
        k
        for k in (
            f"{split}_top1_teacher",
            f"{split}_top1_student",
            f"{split}_gap",
            "val_open_acc_teacher",
            "val_open_acc_student",
            "val_open_dense_tar1e-3_student",
            "val_open_acc_student_ema",
            "val_open_dense_tar1e-3_student_ema",
        )
        if k in row
    ]
    vals = " ".join(f"{k.split('_', 1)[1]}={row[k]:.2f}" for k in keys)
    return f"epoch {row['epoch']}: {vals} ({row['img_per_s']:.0f} img/s)"
