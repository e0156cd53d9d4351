"""The dataset container every loader returns, and its normalisation statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageDataset:
    """Images as uint8 ``(N, C, H, W)``, labels as int64, plus what training needs to know."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    file_names: list[str] | None = None
    fine_to_coarse: np.ndarray | None = field(default=None)
    #: file of each test image (image folders), like ``file_names`` for the training images
    test_file_names: list[str] | None = None
    #: index of each training / test image in its full source, when it is a subset (None: all)
    source_index: np.ndarray | None = None
    test_source_index: np.ndarray | None = None
    #: ``(file, error)`` of each source file left out because it could not be read (image
    #: folders loaded with ``skip_unreadable``; None: not asked to skip any)
    unreadable_files: list[tuple[str, str]] | None = None

    @classmethod
    def from_arrays(cls, name: str, x_train: np.ndarray, y_train, x_test: np.ndarray | None, y_test,
                    num_classes: int, class_names, file_names=None, fine_to_coarse=None,
                    test_file_names=None) -> "ImageDataset":
        """A dataset from arrays in memory: uint8 images ``(N, C, H, W)`` (and ``(M, C, H, W)``
        or None), integer labels; the normalisation statistics are computed from ``x_train``
        (:func:`channel_stats`). Every loader builds its dataset with it."""
        mean, std = channel_stats(x_train)
        return cls(name=name, x_train=x_train, y_train=np.asarray(y_train, dtype=np.int64), x_test=x_test,
                   y_test=None if y_test is None else np.asarray(y_test, dtype=np.int64),
                   num_classes=int(num_classes), class_names=list(class_names), mean=mean, std=std,
                   file_names=file_names, fine_to_coarse=fine_to_coarse, test_file_names=test_file_names)

    @property
    def in_channels(self) -> int:
        """Number of image channels (1 for grey, 3 for RGB)."""
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` of the images."""
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return 0 if self.x_test is None else int(self.x_test.shape[0])


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images ``(N, C, H, W)`` in [0, 1] units.

    Computed exactly from per-channel histograms, so it needs no float copy of the data.
    """
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"channel_stats expects uint8 (N, C, H, W) images, got {x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("channel_stats: no images")
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = np.bincount(np.ascontiguousarray(x[:, c]).ravel(), minlength=256).astype(np.float64)
        total = hist.sum()
        mean = float((hist * values).sum() / total)
        var = float((hist * (values - mean) ** 2).sum() / total)
        means.append(mean)
        stds.append(float(np.sqrt(var)))
    return tuple(means), tuple(stds)

