"""Shared test fixtures: tiny datasets in the real on-disk formats.

The ``write_*_fixture`` builders are plain functions so that any test can call them with its own
sizes; the pytest fixtures below wrap them with defaults in a temporary directory.
"""
from __future__ import annotations

import pathlib
import pickle
import shutil

import numpy as np
import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
_SKIP_ANYWHERE = shutil.ignore_patterns(".git", ".snakemake", ".pytest_cache", "__pycache__", "*.egg-info",
                                        ".benchmarks", ".venv", "report.html")
_SKIP_AT_TOP = {"results", "data", "build", "shared"}   # not below: src/alsofilter/data is code


def copy_workflow(dest, root: pathlib.Path = PROJECT_ROOT) -> pathlib.Path:
    """Copy the project (code, configs, rules) to ``dest`` for a snakemake run of its own, without
    results, caches and data. ``results/``, ``data/``, ``build/`` and ``shared/`` are skipped only at
    the top level, so a package folder of the same name (``src/alsofilter/data``) is copied."""
    root = pathlib.Path(root)

    def ignore(folder, names):
        top = _SKIP_AT_TOP & set(names) if pathlib.Path(folder) == root else set()
        return set(_SKIP_ANYWHERE(folder, names)) | top

    shutil.copytree(root, dest, ignore=ignore, symlinks=True)
    return pathlib.Path(dest)


CIFAR10_CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck"]


def _dump_py2_pickle(obj, path: pathlib.Path) -> None:
    """Pickle like the CIFAR files: protocol 2, numpy arrays referenced as ``numpy.core``.

    Protocol 2 writes globals as text (``GLOBAL module\\nname\\n``), so the numpy 2 module path can
    be swapped for the numpy 1 one that the original (python 2) files use.
    """
    data = pickle.dumps(obj, protocol=2)
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.write_bytes(data)


def _image_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10_fixture(root, n_train_per_batch: int = 40, n_test: int = 50, seed: int = 0) -> pathlib.Path:
    """Write a tiny CIFAR-10 in the python-pickle layout under ``root/cifar-10-batches-py``.

    Files ``data_batch_1..5``, ``test_batch`` (dicts with bytes keys ``b'batch_label'``,
    ``b'labels'`` (list of int), ``b'data'`` (uint8 ``(n, 3072)``), ``b'filenames'``) and
    ``batches.meta`` (``b'label_names'``, ...). Every class occurs in every batch when
    ``n >= 10``. Returns ``root`` (the ``data_dir`` to pass to the loader).
    """
    root = pathlib.Path(root)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def batch(n: int, label: str) -> dict:
        labels = (np.arange(n) % 10)[rng.permutation(n)]
        return {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in labels],
            b"data": _image_rows(rng, n),
            b"filenames": [f"img_{label.replace(' ', '_')}_{i:05d}.png".encode() for i in range(n)],
        }

    for i in range(1, 6):
        _dump_py2_pickle(batch(n_train_per_batch, f"training batch {i} of 5"), folder / f"data_batch_{i}")
    _dump_py2_pickle(batch(n_test, "testing batch 1 of 1"), folder / "test_batch")
    meta = {
        b"num_cases_per_batch": n_train_per_batch,
        b"label_names": [name.encode() for name in CIFAR10_CLASS_NAMES],
        b"num_vis": 3072,
    }
    _dump_py2_pickle(meta, folder / "batches.meta")
    return root


def cifar100_fixture_fine_to_coarse(seed: int = 0) -> np.ndarray:
    """The superclass of each fine class in the fixture: 20 superclasses of 5 fine classes each,
    assigned by a seeded permutation (like the real data, not simply ``fine // 5``)."""
    perm = np.random.default_rng(seed + 1000).permutation(100)
    f2c = np.empty(100, dtype=np.int64)
    f2c[perm] = np.arange(100) // 5
    return f2c


def write_cifar100_fixture(root, n_train: int = 200, n_test: int = 50, seed: int = 0) -> pathlib.Path:
    """Write a tiny CIFAR-100 in the python-pickle layout under ``root/cifar-100-python``.

    Files ``train``/``test`` (bytes keys ``b'filenames'``, ``b'batch_label'``, ``b'fine_labels'``,
    ``b'coarse_labels'``, ``b'data'``) and ``meta`` (``b'fine_label_names'``,
    ``b'coarse_label_names'``). Every fine class occurs in the training set when
    ``n_train >= 100``; the superclasses are :func:`cifar100_fixture_fine_to_coarse`.
    Returns ``root``.
    """
    root = pathlib.Path(root)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    f2c = cifar100_fixture_fine_to_coarse(seed)

    def split(n: int, label: str) -> dict:
        fine = (np.arange(n) % 100)[rng.permutation(n)]
        return {
            b"filenames": [f"img_{label}_{i:05d}.png".encode() for i in range(n)],
            b"batch_label": f"{label} batch 1 of 1".encode(),
            b"fine_labels": [int(v) for v in fine],
            b"coarse_labels": [int(f2c[v]) for v in fine],
            b"data": _image_rows(rng, n),
        }

    _dump_py2_pickle(split(n_train, "training"), folder / "train")
    _dump_py2_pickle(split(n_test, "testing"), folder / "test")
    meta = {
        b"fine_label_names": [f"fine_{i:02d}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse_{i:02d}".encode() for i in range(20)],
    }
    _dump_py2_pickle(meta, folder / "meta")
    return root


def write_npz_fixture(path, n: int = 30, n_test: int | None = 10, shape=(8, 8), channels: int | None = None,
                      num_classes: int = 3, seed: int = 0, **extra) -> pathlib.Path:
    """Write an ``.npz`` with ``x`` (uint8 ``N x H x W``, or ``N x H x W x C`` if ``channels``),
    ``y`` (labels ``i % num_classes`` shuffled) and, unless ``n_test`` is None, ``x_test``/``y_test``.
    ``extra`` arrays are added as further keys (or replace these). Returns ``path``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img_shape = tuple(shape) + ((channels,) if channels else ())
    arrays = {
        "x": rng.integers(0, 256, size=(n,) + img_shape, dtype=np.uint8),
        "y": (np.arange(n) % num_classes)[rng.permutation(n)].astype(np.int64),
    }
    if n_test is not None:
        arrays["x_test"] = rng.integers(0, 256, size=(n_test,) + img_shape, dtype=np.uint8)
        arrays["y_test"] = (np.arange(n_test) % num_classes).astype(np.int64)
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def write_image_folder_fixture(root, classes=("cat", "dog", "frog"), per_class: int = 4, size=(6, 5),
                               mode: str = "RGB", seed: int = 0) -> pathlib.Path:
    """Write ``root/<class>/<class>_<i>.png`` tiny PNGs (``size`` = (width, height)). Returns ``root``."""
    from PIL import Image

    root = pathlib.Path(root)
    rng = np.random.default_rng(seed)
    w, h = size
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (h, w) if mode == "L" else (h, w, 3)
            arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(arr).convert(mode).save(root / cls / f"{cls}_{i}.png")
    return root


@pytest.fixture
def cifar10_dir(tmp_path) -> pathlib.Path:
    """A tiny CIFAR-10 (5 x 40 train, 50 test); pass it as ``data_dir`` with ``verify_md5=False``."""
    return write_cifar10_fixture(tmp_path / "cifar10_data")


@pytest.fixture
def cifar100_dir(tmp_path) -> pathlib.Path:
    """A tiny CIFAR-100 (200 train, 50 test); pass it as ``data_dir`` with ``verify_md5=False``."""
    return write_cifar100_fixture(tmp_path / "cifar100_data")


@pytest.fixture
def npz_path(tmp_path) -> pathlib.Path:
    return write_npz_fixture(tmp_path / "mini.npz")


@pytest.fixture
def image_folder(tmp_path) -> pathlib.Path:
    return write_image_folder_fixture(tmp_path / "images")
