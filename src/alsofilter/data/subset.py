"""Deterministic stratified selections of samples: train/test splits and subsets."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from alsofilter.data.container import ImageDataset, channel_stats


def _per_class_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """``total`` allotted to classes of sizes ``counts`` in proportion, by largest remainder
    (ties: the lower class first)."""
    exact = total * counts / counts.sum()
    per_class = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - per_class), kind="stable")
    per_class[remainder_order[:total - per_class.sum()]] += 1
    return np.minimum(per_class, counts)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified train/test split of ``labels`` (N,): ``ceil(test_fraction * N)``
    test samples, allotted to classes by largest remainder of ``test_fraction * class size``, the
    samples of each class chosen by ``numpy.random.default_rng(seed)``. Returns sorted
    ``(train_index, test_index)``."""
    labels = np.asarray(labels)
    test = stratified_subset(labels, int(np.ceil(test_fraction * labels.size)), seed)
    return np.setdiff1d(np.arange(labels.size), test), test


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` of the samples with ``labels`` (N,), stratified: each class gets its share of
    ``size`` (largest remainder), its samples drawn by ``numpy.random.default_rng(seed)``.
    Returns the sorted indices (M,), i.e. the subset keeps the original order; the same
    arguments give the same subset on every machine."""
    labels = np.asarray(labels)
    n = labels.size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size <= n:
        raise ValueError(f"subset size must be an integer in 1..{n} (the number of samples), got {size!r}")
    classes, counts = np.unique(labels, return_counts=True)
    per_class = _per_class_counts(counts, int(size))
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, per_class)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def subset_dataset(data: ImageDataset, train: int | None = None, test: int | None = None,
                   seed: int = 0) -> ImageDataset:
    """``data`` cut to a stratified subset of ``train`` training and ``test`` test images
    (None: the whole split), :func:`stratified_subset` with ``seed`` (the test split with
    ``seed + 1``). ``source_index``/``test_source_index`` give each kept image's index in the
    full source; mean/std are recomputed on the kept training images."""
    changes = {}
    if train is not None:
        if train > data.num_train:
            raise ValueError(f"subset train={train} but dataset {data.name!r} has {data.num_train} training images")
        idx = stratified_subset(data.y_train, train, seed)
        source = np.arange(data.num_train) if data.source_index is None else np.asarray(data.source_index)
        x_train = np.ascontiguousarray(data.x_train[idx])   # one copy of the kept images
        mean, std = channel_stats(x_train)
        changes.update(x_train=x_train, y_train=data.y_train[idx],
                       source_index=source[idx], mean=mean, std=std,
                       file_names=None if data.file_names is None else [data.file_names[i] for i in idx])
        present = np.unique(data.y_train[idx])
        if present.size < np.unique(data.y_train).size:
            missing = sorted(set(np.unique(data.y_train).tolist()) - set(present.tolist()))
            raise ValueError(f"subset train={train} is too small: classes {missing} of dataset {data.name!r} "
                             "get no training image")
    if test is not None:
        if data.num_test == 0:
            raise ValueError(f"subset test={test} but dataset {data.name!r} has no test split")
        if test > data.num_test:
            raise ValueError(f"subset test={test} but dataset {data.name!r} has {data.num_test} test images")
        idx = stratified_subset(data.y_test, test, seed + 1)
        source = np.arange(data.num_test) if data.test_source_index is None else np.asarray(data.test_source_index)
        changes.update(x_test=np.ascontiguousarray(data.x_test[idx]), y_test=data.y_test[idx],
                       test_source_index=source[idx],
                       test_file_names=None if data.test_file_names is None else [data.test_file_names[i] for i in idx])
    return dataclasses.replace(data, **changes)


#: keys of a dataset's ``subset`` config section
SUBSET_KEYS = ("train", "test", "seed")



def check_subset(subset: Mapping[str, Any] | None, where: str = "subset") -> dict[str, Any] | None:
    """The ``subset`` section normalised to ``{train, test, seed}`` (None: no subset); a clear
    error naming the key for anything else."""
    if subset is None:
        return None
    if not isinstance(subset, Mapping):
        raise ValueError(f"config key {where!r}: {subset!r} must be a mapping with train, test and/or seed")
    unknown = sorted(set(subset) - set(SUBSET_KEYS))
    if unknown:
        raise ValueError(f"config key {where!r}: unknown key(s) {unknown}; allowed: {list(SUBSET_KEYS)}")
    out = {"train": subset.get("train"), "test": subset.get("test"), "seed": subset.get("seed", 0)}
    for key in ("train", "test"):
        value = out[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"config key '{where}.{key}': {value!r} must be a positive integer "
                             "(the number of images to keep) or absent")
    if isinstance(out["seed"], bool) or not isinstance(out["seed"], int) or out["seed"] < 0:
        raise ValueError(f"config key '{where}.seed': {out['seed']!r} must be a non-negative integer")
    if out["train"] is None and out["test"] is None:
        raise ValueError(f"config key {where!r}: give train and/or test (the sizes to keep)")
    return out
