"""CIFAR / Tiny-ImageNet readers on synthetic files in the official layouts, and the data variants."""

import pickle

import numpy as np
import pytest
import torchvision.datasets
from PIL import Image

from lrface.data.cifar import load_cifar
from lrface.data.splits import few_sample_subset
from lrface.data.tinyimagenet import load_tiny_imagenet
from lrface.errors import UserError
from lrface.preprocess import resize_uint8


def official_rows(images: np.ndarray) -> np.ndarray:
    """CIFAR's row layout: 1024 red, then 1024 green, then 1024 blue values, each plane row-major."""
    return np.stack([np.concatenate([im[..., c].ravel() for c in range(3)]) for im in images])


def dump(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def make_cifar10(root, per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    images, labels = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images[name] = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels[name] = [int(v) for v in rng.integers(0, 10, per_batch)]
        dump(
            d / name,
            {
                b"batch_label": b"x",
                b"data": official_rows(images[name]),
                b"labels": labels[name],
                b"filenames": [b"f.png"] * per_batch,
            },
            protocol=2,
        )
    dump(d / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})
    return images, labels


def make_cifar100(root, n_train=40, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    out = {}
    for name, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        fine = np.arange(n) % 4  # 4 classes, n/4 images each
        dump(
            d / name,
            {b"data": official_rows(images), b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 2 + 7).tolist()},
        )
        out[name] = (images, fine)
    dump(
        d / "meta",
        {b"fine_label_names": [b"apple", b"bee", b"cup", b"dog"], b"coarse_label_names": [b"fruit", b"thing"]},
    )
    return out


def test_cifar10_official_layout_values_labels_names(tmp_path):
    images, labels = make_cifar10(tmp_path)
    splits, names = load_cifar(tmp_path, "cifar10")
    assert names == [f"c{i}" for i in range(10)]
    train_x, train_y = splits["train"]
    assert train_x.dtype == np.uint8 and train_x.shape == (20, 32, 32, 3) and train_y.dtype == np.int64
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    np.testing.assert_array_equal(train_x, np.concatenate([images[b] for b in batches]))
    assert train_y.tolist() == sum((labels[b] for b in batches), [])
    np.testing.assert_array_equal(splits["test"][0], images["test_batch"])
    assert splits["test"][1].tolist() == labels["test_batch"]
    # pixel (0, 1) of image 0 is bytes 1, 1025 and 2049 of the row (R, G, B planes)
    row = official_rows(images["data_batch_1"][:1])[0]
    assert train_x[0, 0, 1].tolist() == [row[1], row[1025], row[2049]]


def test_cifar100_reads_fine_labels_and_accepts_archive_folder_as_root(tmp_path):
    data = make_cifar100(tmp_path)
    for root in (tmp_path, tmp_path / "cifar-100-python"):
        splits, names = load_cifar(root, "cifar100")
        assert names == ["apple", "bee", "cup", "dog"]
        for split in ("train", "test"):
            np.testing.assert_array_equal(splits[split][0], data[split][0])
            np.testing.assert_array_equal(splits[split][1], data[split][1])


def test_low_res_and_few_sample_options(tmp_path):
    """data.low_res downsamples every split; data.fraction keeps a seeded half of each training class."""
    from lrface.config import load_config
    from lrface.data.sources import load_data

    data = make_cifar100(tmp_path)
    cfg = load_config(
        None,
        [
            f"data.path={tmp_path}",
            "data.kind=cifar100",
            "data.image_size=16",
            "data.low_res=true",
            "data.fraction=0.5",
            "data.val_fraction=0",
            "train.seed=5",
        ],
    )
    splits = load_data(cfg).splits
    test_x, test_y = splits["test"]
    np.testing.assert_array_equal(test_x, resize_uint8(data["test"][0], 16))  # test split: downsampled, all kept
    np.testing.assert_array_equal(test_y, data["test"][1])
    train_x, train_y = splits["train"]
    assert train_x.shape == (20, 16, 16, 3) and np.bincount(train_y).tolist() == [5, 5, 5, 5]
    idx = few_sample_subset(data["train"][1], 0.5, 5)
    np.testing.assert_array_equal(train_x, resize_uint8(data["train"][0][idx], 16))


def test_few_sample_subset_per_class_and_seeded():
    labels = np.repeat(np.arange(5), [8, 8, 8, 8, 3])
    for fraction, expect in (
        (0.25, [2, 2, 2, 2, 1]),
        (0.5, [4, 4, 4, 4, 2]),
        (0.75, [6, 6, 6, 6, 2]),
        (1.0, [8] * 4 + [3]),
    ):
        idx = few_sample_subset(labels, fraction, seed=5)
        assert np.bincount(labels[idx]).tolist() == expect
        assert np.all(np.diff(idx) > 0)
    assert few_sample_subset(labels, 0.5, 5).tolist() == few_sample_subset(labels, 0.5, 5).tolist()
    draws = {tuple(few_sample_subset(labels, 0.5, s)) for s in range(5)}
    assert len(draws) > 1


@pytest.mark.parametrize(
    "kind, missing", [("cifar100", "cifar-100-python/train"), ("cifar10", "cifar-10-batches-py/data_batch_1")]
)
def test_cifar_bad_layout_names_expected_path(tmp_path, kind, missing):
    with pytest.raises(UserError, match=f"no {missing} under {tmp_path}.*data.download=true"):
        load_cifar(tmp_path, kind)


def test_cifar_wrong_content_is_a_user_error(tmp_path):
    make_cifar100(tmp_path)
    dump(tmp_path / "cifar-100-python" / "train", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    with pytest.raises(UserError, match="fine_labels"):
        load_cifar(tmp_path, "cifar100")
    dump(tmp_path / "cifar-100-python" / "train", {b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]})
    with pytest.raises(UserError, match="N x 3072"):
        load_cifar(tmp_path, "cifar100")


class _Evil:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os

        return os.mkdir, (self.path,)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    make_cifar100(tmp_path)
    marker = tmp_path / "pwned"
    dump(tmp_path / "cifar-100-python" / "meta", {b"fine_label_names": _Evil(marker)})
    with pytest.raises(UserError, match="refusing to load"):
        load_cifar(tmp_path, "cifar100")
    assert not marker.exists()


def test_download_goes_through_torchvision_classes(tmp_path, monkeypatch):
    calls = []

    class FakeCIFAR100:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            if not (tmp_path / "cifar-100-python").exists():
                make_cifar100(tmp_path)

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", FakeCIFAR100)
    splits, names = load_cifar(tmp_path, "cifar100", download=True)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert len(splits["train"][1]) == 40 and names[0] == "apple"


def make_tiny(root, wnids=("n03", "n01", "n02"), per_class=2):
    """Flat-colour JPEGs (so lossy coding keeps them near exact); colour k*60+30 for sorted wnid k."""
    d = root / "tiny-imagenet-200"
    colour = {w: 30 + 60 * k for k, w in enumerate(sorted(wnids))}
    for w in wnids:
        (d / "train" / w / "images").mkdir(parents=True)
        (d / "train" / w / f"{w}_boxes.txt").write_text("")
        for i in range(per_class):
            Image.new("RGB", (64, 64), (colour[w],) * 3).save(d / "train" / w / "images" / f"{w}_{i}.JPEG")
    (d / "val" / "images").mkdir(parents=True)
    lines = []
    for i, w in enumerate(wnids):
        Image.new("L", (64, 64), colour[w]).save(d / "val" / "images" / f"val_{i}.JPEG")  # grayscale on disk
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (d / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (d / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (d / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tcrane\nn03\tcrane\nn99\tunused\n")
    return d


def test_tiny_imagenet_official_layout(tmp_path):
    folder = make_tiny(tmp_path)
    for root in (tmp_path, folder):
        splits, names = load_tiny_imagenet(root)
        assert names == ["goldfish", "crane (n02)", "crane (n03)"]
        train_x, train_y = splits["train"]
        assert train_x.shape == (6, 64, 64, 3) and train_x.dtype == np.uint8
        assert train_y.tolist() == [0, 0, 1, 1, 2, 2]
        assert np.abs(train_x.astype(int) - (30 + 60 * train_y)[:, None, None, None]).max() <= 2
        test_x, test_y = splits["test"]
        assert test_y.tolist() == [2, 0, 1] and test_x.shape == (3, 64, 64, 3)  # val order: n03, n01, n02
        assert np.abs(test_x.astype(int) - (30 + 60 * test_y)[:, None, None, None]).max() <= 2
    splits, _ = load_tiny_imagenet(tmp_path, low_res=16)
    assert splits["train"][0].shape == (6, 16, 16, 3) and splits["train"][1].tolist() == [0, 0, 1, 1, 2, 2]


def test_tiny_imagenet_bad_layout_and_download(tmp_path):
    with pytest.raises(UserError, match=f"no tiny-imagenet-200/wnids.txt under {tmp_path}"):
        load_tiny_imagenet(tmp_path)
    folder = make_tiny(tmp_path)
    with pytest.raises(UserError, match="torchvision has no Tiny-ImageNet"):
        load_tiny_imagenet(tmp_path, download=True)
    (folder / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn77\t0\t0\t1\t1\n")
    with pytest.raises(UserError, match="val_annotations.txt:1"):
        load_tiny_imagenet(tmp_path)
    (folder / "val" / "val_annotations.txt").unlink()
    with pytest.raises(UserError, match="no tiny-imagenet-200/val/val_annotations.txt under"):
        load_tiny_imagenet(tmp_path)
