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


# The slow tier: tests over ~2 s (setup included) in one `pytest --durations=0` run of the whole suite on the
# 2-core VM (2026-12-04, under load). Listed here rather than as decorators so that edits to the test files do not
# conflict; an entry is a module, a test function (all its parameters) or one parametrised test id.
# `pytest -m "not slow"` is the fast tier (docs/testing.md).
SLOW = {
    "test_detect.py::test_matches_facenet_pytorch_on_real_photos",
    "test_detect.py::test_align_serving_path_imports_no_torch",
    "test_service_model_integrity.py::test_a_gallery_rebuilt_with_another_model_is_refused_while_serving",
    "test_service_model_integrity.py::test_tampered_metadata_while_serving_is_503",
    "test_all_faces.py::test_service_all_faces",
    "test_all_faces.py::test_all_faces_path_imports_no_torch",
    "test_video.py::test_video_path_imports_no_torch",
    "test_api.py::test_readers_never_fail_while_a_writer_publishes_generations",
    "test_benchmark.py::test_benchmark_end_to_end",
    "test_benchmark.py::test_benchmark_over_seeds_shares_the_split_and_writes_a_summary",
    "test_channels_last_models.py",
    "test_classification_configs.py::test_classification_config[cifar100-cross-wide_resnet50_2-shufflenet_v1]",
    "test_classification_models.py::test_block_split_and_output_shapes[wide_resnet50_2]",
    "test_classification_models.py::test_parameter_count_equals_torchvision_layout[wide_resnet50_2-<lambda>]",
    "test_classification_train.py::test_config_family_trains_one_step",
    "test_cli_faults.py::test_a_read_only_gallery_is_one_line_and_unchanged",
    "test_degrade.py::test_train_smoke_with_degrade_on_a_32px_set",
    "test_engine.py::test_resume_is_bit_exact_on_cpu",
    "test_gallery_cli.py::test_kill_during_gallery_build_then_rerun_completes",
    "test_gallery_cli.py::test_model_and_gallery_must_match",
    "test_heads.py::test_train_and_export_with_a_margin_head",
    "test_identify.py::test_identify_imports_no_torch",
    "test_identify.py::test_identify_orl",
    "test_openset_benchmark.py::test_openset_benchmark_rows",
    "test_pipeline.py",
    "test_prepare_hr.py::test_first_prepare_with_hr_teacher_writes_both",
    "test_prepare_hr.py::test_prepare_adds_hr_embeddings_to_a_finished_set",
    "test_prepare_inputs.py::test_albumentations_makes_no_network_call_on_import",
    "test_prepare_inputs.py::test_bad_inputs_recorded_and_odd_modes_kept",
    "test_prepare_readers.py::test_celeba_wild_photos_mostly_aligned",
    "test_prepare_readers.py::test_orl_end_to_end_cli",
    "test_prepare_resume.py",
    "test_scale.py::test_torchrun_two_processes_match_one_process",
    "test_service.py",
    "test_service_damage.py",
    "test_serving_align.py",
    "test_train_cli.py::test_train_end_to_end_on_generated_set",
    "test_train_cli.py::test_train_on_orl_with_the_real_student",
    "test_verification.py::test_evaluate_pairs_cli_and_cache",
}


def pytest_collection_modifyitems(config, items):
    """Mark the SLOW tests ``slow``."""
    for item in items:
        module = item.path.name
        if {module, f"{module}::{getattr(item, 'originalname', item.name)}", f"{module}::{item.name}"} & SLOW:
            item.add_marker(pytest.mark.slow)


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
