"""Shared fixtures: where ../shared/data is, and a generated identity set that is always present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# One intra-op thread: on a 2-core machine that is busy with anything else, two threads per
# process run many times slower (oversubscription); tests only need a deterministic CPU.
torch.set_num_threads(1)

SHARED_DATA = Path(os.environ.get("LRFACE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def shared_data(name: str) -> Path:
    """Path of ``../shared/data/<name>``; skips the test where it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent (real face data is only beside the project in development and CI)")
    return path


def sets(*pairs: str) -> list[str]:
    """`--set KEY=VALUE` CLI arguments, one pair each."""
    return [arg for pair in pairs for arg in ("--set", pair)]


# the tiny training every CLI training test starts from (real configs, resnet_tiny streams)
TINY_TRAIN = sets(
    "teacher.arch=resnet_tiny", "student.arch=resnet_tiny", "guided.width=8", "train.batch_size=16", "train.threads=1"
)


def make_identity_set(root: Path, identities: int = 6, per_identity: int = 10, size: int = 24, seed: int = 0) -> Path:
    """Write ``root/id_k/n.png``: each identity a fixed smooth colour pattern, each image a noisy shifted copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k in range(identities):
        freq, phase, colour = rng.uniform(1, 3, 2), rng.uniform(0, 6.28, 2), rng.uniform(40, 215, 3)
        base = np.sin(2 * np.pi * freq[0] * xx + phase[0]) * np.cos(2 * np.pi * freq[1] * yy + phase[1])
        d = root / f"id_{k}"
        d.mkdir(parents=True, exist_ok=True)
        for n in range(per_identity):
            shifted = np.roll(base, rng.integers(-1, 2, 2), axis=(0, 1))
            img = colour[None, None, :] + 40 * shifted[..., None] + rng.normal(0, 6, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{n}.png")
    return root


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(run dir, exported student.onnx) of a tiny trained student (tests/serving_helpers.tiny_export)."""
    from serving_helpers import tiny_export

    return tiny_export(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def faces(tmp_path):
    """Generated identity folder (gallery) and held-out probes of the same identities."""
    from serving_helpers import gallery_and_probes

    return gallery_and_probes(tmp_path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, gallery dir, probes dir, model) of a running `lrface serve` (tests/service_helpers.served_gallery),
    one per test module."""
    from service_helpers import served_gallery

    yield from served_gallery(tmp_path_factory.mktemp("served"))


@pytest.fixture
def identity_set(tmp_path) -> Path:
    return make_identity_set(tmp_path / "faces")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def detector():
    """lrface.prep's MTCNN face detector (the lrface.prep tests)."""
    from lrface.prep.detect import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def astronaut(detector):
    """The astronaut image and its MTCNN landmarks (5 x 2, template order)."""
    from lrface.prep.align import canonical_order

    image = pytest.importorskip("skimage.data").astronaut()
    faces = detector.detect([image], [20])[0]
    assert len(faces) == 1
    return image, canonical_order(faces.points[0])
