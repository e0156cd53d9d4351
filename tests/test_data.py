from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from alsofilter import data as D
from conftest import (CIFAR10_CLASS_NAMES, cifar100_fixture_fine_to_coarse, write_cifar10_fixture,
                      write_image_folder_fixture, write_npz_fixture)


def _raw(path):
    with open(path, "rb") as fh:  # our own fixture files: plain pickle is fine here
        return pickle.load(fh, encoding="bytes")


# ---------------------------------------------------------------- digits


def test_digits():
    ds = D.load_digits_dataset()
    assert ds.name == "digits"
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.x_test.shape == (360, 1, 8, 8)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    assert ds.num_classes == 10 and ds.class_names == [str(i) for i in range(10)]
    assert ds.in_channels == 1 and ds.image_size == (8, 8)
    assert set(np.unique(ds.y_train)) == set(range(10))
    # stratified: class proportions match closely
    assert np.abs(np.bincount(ds.y_train) / 1437 - np.bincount(ds.y_test) / 360).max() < 0.01
    # pixel values are round(v * 255 / 16)
    assert set(np.unique(ds.x_train)) <= {int(round(v * 255 / 16)) for v in range(17)} | {128}
    again = D.load_digits_dataset()
    assert np.array_equal(ds.x_train, again.x_train) and np.array_equal(ds.y_test, again.y_test)
    other = D.load_digits_dataset(split_seed=1)
    assert not np.array_equal(ds.y_train, other.y_train)
    assert len(ds.mean) == 1 and 0 < ds.mean[0] < 1 and 0 < ds.std[0] < 1
    x = ds.x_train / 255.0
    assert ds.mean[0] == pytest.approx(x.mean(), abs=1e-12)
    assert ds.std[0] == pytest.approx(x.std(), abs=1e-12)
    assert D.load_dataset("digits").x_train.shape == ds.x_train.shape


# ---------------------------------------------------------------- CIFAR


def test_cifar10_fixture(cifar10_dir):
    ds = D.load_cifar10(cifar10_dir, verify_md5=False)
    assert ds.x_train.shape == (200, 3, 32, 32) and ds.x_test.shape == (50, 3, 32, 32)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.num_classes == 10 and ds.class_names == CIFAR10_CLASS_NAMES
    assert ds.in_channels == 3 and ds.image_size == (32, 32) and ds.fine_to_coarse is None
    folder = cifar10_dir / "cifar-10-batches-py"
    raws = [_raw(folder / f"data_batch_{i}") for i in range(1, 6)]
    assert ds.y_train.tolist() == sum((r[b"labels"] for r in raws), [])
    assert np.array_equal(ds.x_train[40:80].reshape(40, -1), raws[1][b"data"])
    # row-major CHW: the first 1024 values are the red channel
    assert np.array_equal(ds.x_train[0, 0].ravel(), raws[0][b"data"][0, :1024])
    assert np.array_equal(ds.y_test, _raw(folder / "test_batch")[b"labels"])
    x = ds.x_train / 255.0
    assert np.allclose(ds.mean, x.mean(axis=(0, 2, 3)), atol=1e-12)
    assert np.allclose(ds.std, x.std(axis=(0, 2, 3)), atol=1e-12)
    via = D.load_dataset("cifar10", data_dir=cifar10_dir, verify_md5=False)
    assert np.array_equal(via.x_train, ds.x_train)


def test_cifar100_fixture(cifar100_dir):
    ds = D.load_cifar100(cifar100_dir, verify_md5=False)
    assert ds.x_train.shape == (200, 3, 32, 32) and ds.x_test.shape == (50, 3, 32, 32)
    assert ds.num_classes == 100 and len(ds.class_names) == 100 and ds.class_names[3] == "fine_03"
    raw = _raw(cifar100_dir / "cifar-100-python" / "train")
    assert ds.y_train.tolist() == raw[b"fine_labels"]
    assert np.array_equal(ds.fine_to_coarse, cifar100_fixture_fine_to_coarse(0))
    assert ds.fine_to_coarse.dtype == np.int64
    assert np.array_equal(ds.fine_to_coarse[ds.y_train], raw[b"coarse_labels"])


def test_md5_mismatch(cifar10_dir, cifar100_dir):
    with pytest.raises(ValueError) as info:
        D.load_cifar10(cifar10_dir)
    msg = str(info.value)
    assert "data_batch_1" in msg and "c99cafc152244af753f735de768cd75f" in msg
    assert "cs.toronto.edu/~kriz/cifar.html" in msg and "download: true" in msg
    actual = __import__("hashlib").md5((cifar10_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes()).hexdigest()
    assert actual in msg
    with pytest.raises(ValueError, match="16019d7e3df5f24257cddd939b257f8d"):
        D.load_dataset("cifar100", data_dir=cifar100_dir)


def test_missing_file(cifar10_dir, tmp_path):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_3"
    path.unlink()
    with pytest.raises(FileNotFoundError) as info:
        D.load_cifar10(cifar10_dir, verify_md5=False)
    assert str(path) in str(info.value) and "cifar.html" in str(info.value)
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        D.load_cifar100(tmp_path, verify_md5=False)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        D.load_cifar10(tmp_path / "nowhere")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_doctored_pickle_is_refused(cifar10_dir, tmp_path):
    marker = tmp_path / "pwned.txt"
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(pickle.UnpicklingError) as info:
        D.load_cifar10(cifar10_dir, verify_md5=False)
    assert "system" in str(info.value) and "data_batch_2" in str(info.value)
    assert not marker.exists()
    # also with the newest protocol
    path.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        D.load_cifar10(cifar10_dir, verify_md5=False)
    assert not marker.exists()


@pytest.mark.parametrize("content,msg", [
    ({b"data": np.zeros((4, 3072), np.uint8)}, "'labels'"),
    ({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, "3072"),
    ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]}, "uint8"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}, "'labels'"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 12]}, "0..9"),
    ([1, 2, 3], "dict"),
])
def test_malformed_cifar(cifar10_dir, content, msg):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(ValueError, match=msg) as info:
        D.load_cifar10(cifar10_dir, verify_md5=False)
    assert "data_batch_4" in str(info.value)


def test_truncated_pickle(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="test_batch"):
        D.load_cifar10(cifar10_dir, verify_md5=False)


def test_fixture_builder_sizes(tmp_path):
    root = write_cifar10_fixture(tmp_path, n_train_per_batch=12, n_test=7, seed=3)
    ds = D.load_cifar10(root, verify_md5=False)
    assert ds.x_train.shape[0] == 60 and ds.x_test.shape[0] == 7


def test_load_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="'mnist2'.*digits, cifar10, cifar100"):
        D.load_dataset("mnist2")
    with pytest.raises(ValueError, match="data_dir"):
        D.load_dataset("cifar10")
    with pytest.raises(ValueError, match="verify"):
        D.load_dataset("digits", verify_md5=False)


# ---------------------------------------------------------------- npz / image folder


def test_npz(tmp_path):
    p = write_npz_fixture(tmp_path / "a.npz", n=30, n_test=10, shape=(5, 7), num_classes=3)
    ds = D.load_npz(p)
    assert ds.x_train.shape == (30, 1, 5, 7) and ds.x_test.shape == (10, 1, 5, 7)
    assert ds.num_classes == 3 and ds.class_names == ["0", "1", "2"] and ds.y_train.dtype == np.int64
    raw = np.load(p)
    assert np.array_equal(ds.x_train[:, 0], raw["x"])

    p = write_npz_fixture(tmp_path / "b.npz", n=12, n_test=None, channels=3, num_classes=4)
    ds = D.load_dataset("npz", path=p)
    assert ds.x_train.shape == (12, 3, 8, 8) and ds.x_test is None and ds.num_classes == 4
    assert np.array_equal(ds.x_train.transpose(0, 2, 3, 1), np.load(p)["x"])
    assert len(ds.mean) == 3

    p = write_npz_fixture(tmp_path / "c.npz", num_classes=3, class_names=np.array(["a", "b", "c", "d"]))
    ds = D.load_npz(p)
    assert ds.num_classes == 4 and ds.class_names == ["a", "b", "c", "d"]


@pytest.mark.parametrize("kwargs,msg", [
    (dict(x=None), "'x'"),
    (dict(y=None), "'y'"),
    (dict(x=np.zeros((30, 8, 8), np.float32)), "'x' must be uint8"),
    (dict(x=np.zeros((30, 64), np.uint8)), "'x' must have shape"),
    (dict(y=np.zeros(29, np.int64)), "'y' has 29 labels but there are 30"),
    (dict(y=np.zeros(30, np.float64)), "'y' must hold integer"),
    (dict(y=-np.ones(30, np.int64)), "'y' labels must be >= 0"),
    (dict(y_test=None), "'y_test'"),
    (dict(x_test=np.zeros((10, 4, 4), np.uint8)), "'x_test' images"),
    (dict(class_names=np.array(["a"])), "'class_names'"),
])
def test_bad_npz(tmp_path, kwargs, msg):
    p = tmp_path / "bad.npz"
    write_npz_fixture(p, **{k: v for k, v in kwargs.items() if v is not None})
    drop = [k for k, v in kwargs.items() if v is None]
    if drop:
        arrays = dict(np.load(p))
        for k in drop:
            del arrays[k]
        np.savez(p, **arrays)
    with pytest.raises(ValueError, match=msg) as info:
        D.load_npz(p)
    assert "bad.npz" in str(info.value)


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.npz"):
        D.load_npz(tmp_path / "none.npz")


def test_image_folder(tmp_path):
    from PIL import Image

    root = write_image_folder_fixture(tmp_path / "imgs", classes=("dog", "cat"), per_class=3, size=(6, 5))
    (root / "cat" / "notes.txt").write_text("not an image")
    ds = D.load_image_folder(root)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.x_train.shape == (6, 3, 5, 6) and ds.x_test is None and ds.y_test is None
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.file_names[0] == "cat/cat_0.png" and ds.file_names[-1] == "dog/dog_2.png"
    with Image.open(root / "dog" / "dog_1.png") as im:
        assert np.array_equal(ds.x_train[4].transpose(1, 2, 0), np.asarray(im.convert("RGB")))

    grey = write_image_folder_fixture(tmp_path / "grey", per_class=2, mode="L")
    ds = D.load_dataset("image_folder", data_dir=grey)
    assert ds.x_train.shape == (6, 1, 5, 6) and ds.in_channels == 1


def test_image_folder_errors(tmp_path):
    from PIL import Image

    root = write_image_folder_fixture(tmp_path / "imgs")
    Image.new("RGB", (9, 9)).save(root / "dog" / "odd.png")
    with pytest.raises(ValueError, match="odd.png.*same size"):
        D.load_image_folder(root)
    with pytest.raises(FileNotFoundError, match="missing_root"):
        D.load_image_folder(tmp_path / "missing_root")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        D.load_image_folder(tmp_path / "empty")
