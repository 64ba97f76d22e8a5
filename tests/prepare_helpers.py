"""Shared pieces for the lrface.prep tests: a face pasted on a canvas, saving images, running the CLI,
reading items.csv, checking a one-line error."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from lrface.cli import main


def paste(astronaut, canvas=(300, 400), at=(60, 40), scale=1.0, tint=0):
    """A canvas (H, W) with the astronaut's face region pasted at ``at``: (image, 5 points, box x y w h)."""
    image, points = astronaut
    x0, y0, side = 150, 40, 160
    face = Image.fromarray(image[y0 : y0 + side, x0 : x0 + side]).resize((round(side * scale),) * 2, Image.BILINEAR)
    out = np.full((*canvas, 3), 90 + tint, np.uint8)
    out[at[1] : at[1] + face.height, at[0] : at[0] + face.width] = np.asarray(face)
    pts = (points - [x0, y0]) * (face.width / side) + at
    box = (pts[:, 0].min() - 20 * scale, pts[:, 1].min() - 30 * scale, 80 * scale, 100 * scale)
    return out, pts, box


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def run_cli(argv, capsys):
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def items_csv(out: Path) -> list[dict]:
    with open(out / "items.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_one_line_error(rc, err, *needles):
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert rc == 2 and len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
