"""Shared pieces for the serving/export tests: generated identity folders, a tiny trained run,
its ONNX export, the ORL location, and running the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lrface.cli import main
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[1]

_CACHE: dict[str, Path] = {}


def generated_faces(n_ids: int = 6, per_id: int = 6, size: int = 32, seed: int = 0):
    """uint8 RGB images (n_ids * per_id, size, size, 3) and labels: per identity a smooth random
    colour pattern, per sample noise, brightness and a one-pixel shift."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n_ids):
        base = cv2.resize(
            rng.uniform(0, 255, (4, 4, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
        )
        for _ in range(per_id):
            im = np.roll(base, rng.integers(-1, 2, 2), axis=(0, 1)) * rng.uniform(0.85, 1.15) + rng.normal(
                0, 8, base.shape
            )
            images.append(np.clip(im, 0, 255).astype(np.uint8))
            labels.append(i)
    return np.stack(images), np.asarray(labels, np.int64)


def write_identity_folder(
    root: Path, images: np.ndarray, labels: np.ndarray, names: list[str], numbers=None, ext: str = ".png"
) -> Path:
    """Write ``root/<names[label]>/<number>.png`` (numbers default to positions)."""
    numbers = range(len(images)) if numbers is None else numbers
    for j, im, y in zip(numbers, images, labels):
        d = root / names[y]
        d.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(d / f"{j:04d}{ext}"), im[..., ::-1])
    return root


def make_run(
    run_dir: Path,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    arch: str = "resnet_tiny",
    steps: int = 30,
    data_path: Path | None = None,
    seed: int = 0,
    kwargs: dict | None = None,
) -> Path:
    """A real `student-only` run of ``arch`` for ``steps`` SGD steps on the images (checkpoints/best.pt)."""
    from lrface.config import load_config
    from lrface.data.sources import DataBundle
    from lrface.engine.trainer import Trainer

    overrides = [
        "strategy=student-only",
        f"student.arch={arch}",
        f"student.kwargs={json.dumps(kwargs or {})}",
        f"train.max_steps={steps}",
        f"train.epochs={steps}",
        f"train.batch_size={min(64, len(labels))}",
        f"train.seed={seed}",
        "train.threads=1",
        "optim.lr=0.05",
        "optim.milestones=[]",
        "augment.enabled=false",
    ]
    if data_path is not None:
        overrides.append(f"data.path={data_path}")
    data = DataBundle(list(class_names), {"train": (images, labels), "test": (images, labels)})
    Trainer(load_config(None, overrides), data, run_dir).fit()
    return run_dir


def tiny_export(base: Path) -> tuple[Path, Path]:
    """(run dir, exported student.onnx) of resnet_tiny trained on the generated set; made once per session."""
    if "tiny" not in _CACHE:
        from lrface.data.packed import write_packed_set
        from lrface.export import export_onnx

        images, labels = generated_faces(n_ids=6, per_id=8)
        names = [f"id{i}" for i in range(labels.max() + 1)]
        packed = write_packed_set(
            base / "packed", {"train": (images, labels), "test": (images[::3], labels[::3])}, names, items=[]
        )
        run = make_run(base / "run", images, labels, names, data_path=packed)
        _CACHE["tiny"] = export_onnx(run, log=lambda m: None)
    onnx_path = _CACHE["tiny"]
    return onnx_path.parents[1], onnx_path


def orl_export(base: Path) -> tuple[Path, Path]:
    """(ORL root, student.onnx) of sresnet18 trained for a few dozen steps on ORL images 01-05 at 16x16."""
    if "orl" not in _CACHE:
        from lrface.export import export_onnx
        from lrface.imageio import read_image
        from lrface.preprocess import resize_uint8

        root = shared_data("orl")
        ids = sorted(p.name for p in root.iterdir() if p.is_dir())
        images, labels = [], []
        for y, name in enumerate(ids):
            for f in sorted((root / name).glob("*.png"))[:5]:
                images.append(resize_uint8(read_image(f), 16))
                labels.append(y)
        run = make_run(base / "orl_run", np.stack(images), np.asarray(labels), ids, arch="sresnet18", steps=40)
        _CACHE["orl"] = export_onnx(run, log=lambda m: None)
    return shared_data("orl"), _CACHE["orl"]


NAMES = ["Ann Lee", "Bob", "Zoë", "d", "e", "f"]


def gallery_and_probes(base: Path) -> tuple[Path, Path]:
    """Six generated identities: images 0-4 of each in BASE/gal (enrolled), 5-7 in BASE/probes (held out)."""
    images, labels = generated_faces(n_ids=6, per_id=8, seed=0)
    enrol = np.arange(len(labels)) % 8 < 5
    gal = write_identity_folder(base / "gal", images[enrol], labels[enrol], NAMES, np.flatnonzero(enrol))
    probes = write_identity_folder(base / "probes", images[~enrol], labels[~enrol], NAMES, np.flatnonzero(~enrol))
    return gal, probes


def cli(*args) -> int:
    """`lrface ARGS` in this process; its exit status."""
    return main([str(a) for a in args])


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`lrface ARGS` in this process: (exit status, stdout, stderr) of that command alone."""
    capsys.readouterr()
    rc = cli(*args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def identify_json(capsys, *args) -> list[dict]:
    """`lrface identify ARGS --json`, parsed."""
    capsys.readouterr()
    assert cli("identify", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def assert_one_line_error(capsys, rc, needle):
    """The CLI exited 2 with one `lrface ...: error: ...` line containing ``needle``."""
    err = capsys.readouterr().err
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lrface ") and ": error: " in last and needle in last, err


def package_model(root: Path, onnx: Path, name: str = "tiny", **card) -> dict:
    """Make ``root`` a packaged-model folder holding a copy of ``onnx`` as ``name`` with a valid model card
    (its sha256 included; ``card`` overrides fields); returns the card."""
    import shutil

    from lrface.model_integrity import file_sha256

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx, root / f"{name}.onnx")
    card = {
        "name": name,
        "description": "a test student",
        "training_data": "generated",
        "data_terms": "none",
        "preprocessing": "16x16",
        "accuracy": {"LFW-16": "n/a"},
        "command": "pytest",
        "date": "2026-11-30",
        "sha256": file_sha256(root / f"{name}.onnx"),
        **card,
    }
    (root / f"{name}.json").write_text(json.dumps(card))
    (root / "index.json").write_text(json.dumps({"models": [name]}))
    return card
