"""scikit-learn's 8x8 digits (the demo), read without importing scikit-learn."""
from __future__ import annotations

import functools
import math
import pathlib

import numpy as np

from alsofilter.data.container import ImageDataset
from alsofilter.data.subset import stratified_split

DIGITS_SIZE = 1797


def _digits_csv() -> pathlib.Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, located without importing scikit-learn
    (importing it costs ~2 s of every job's start-up on a slow CPU); None if not found."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = pathlib.Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 (N, 1, 8, 8) and int64 labels (cached; callers index copies).
    Read from scikit-learn's shipped CSV (64 pixel values 0..16, then the label, per row)."""
    path = _digits_csv()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        pixels, target = table[:, :64].reshape(-1, 8, 8), table[:, 64]
    else:   # an unusual install: let scikit-learn find its data
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, target = bunch.images, bunch.target
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    images.flags.writeable = False
    y = target.astype(np.int64)
    y.flags.writeable = False
    return images, y


def load_digits_dataset(test_fraction: float = 0.2, split_seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits as uint8 ``(N, 1, 8, 8)`` with a fixed stratified split.

    Pixel values 0..16 become ``round(v * 255 / 16)``. The split is :func:`stratified_split`
    (seeded with ``split_seed``); both parts keep the original sample order. Defaults give 1437
    training and 360 test images, the same on every call.
    """
    if not (0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    images, y = _digits_arrays()
    train_idx, test_idx = stratified_split(y, float(test_fraction), split_seed)
    return ImageDataset.from_arrays(
        "digits",
        np.ascontiguousarray(images[train_idx]), y[train_idx],
        np.ascontiguousarray(images[test_idx]), y[test_idx],
        num_classes=10, class_names=[str(i) for i in range(10)],
    )


def digits_train_size(test_fraction: float = 0.2) -> int:
    """Training-set size of :func:`load_digits_dataset` (``ceil(test_fraction * n)`` test images)."""
    return DIGITS_SIZE - math.ceil(float(test_fraction) * DIGITS_SIZE)
