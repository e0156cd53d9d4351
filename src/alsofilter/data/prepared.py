"""The pipeline's own dataset cache: any source, decoded once, read memory-mapped.

A prepared dataset is a folder::

    x_train.npy  uint8 (N, C, H, W)        y_train.npy  int64 (N,)
    x_test.npy   uint8 (M, C, H, W)        y_test.npy   int64 (M,)      (M = 0: no test split)
    source_index.npy, test_source_index.npy  int64: each image's index in the full source
    dataset.json   name, format, source, its fingerprint, class names, file names, mean/std,
                   the subset (if any), fine_to_coarse (CIFAR-100) — written last

Plain ``.npy`` files load with ``mmap_mode="r"`` in milliseconds whatever their size: a job
reads the pages it touches, and the operating system shares them between jobs on one machine.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Mapping

import numpy as np

from alsofilter.data.container import ImageDataset
from alsofilter.io import atomic_path, write_json_atomic

ARRAYS = ("x_train", "y_train", "x_test", "y_test", "source_index", "test_source_index")
META_FILE = "dataset.json"
#: files of a prepared folder (what the pipeline's rules list as the prepare stage's outputs)
FILES = tuple(f"{a}.npy" for a in ARRAYS) + (META_FILE,)
VERSION = 1


def write_prepared(data: ImageDataset, folder, info: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Write ``data`` as a prepared folder (each file atomically, ``dataset.json`` last).
    ``info``: more entries for ``dataset.json`` (source, fingerprint, subset, ...)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n, m = data.num_train, data.num_test
    x_test = data.x_test if m else np.zeros((0, *data.x_train.shape[1:]), dtype=np.uint8)
    y_test = data.y_test if m else np.zeros(0, dtype=np.int64)
    arrays = {
        "x_train": np.ascontiguousarray(data.x_train, dtype=np.uint8),
        "y_train": np.asarray(data.y_train, dtype=np.int64),
        "x_test": np.ascontiguousarray(x_test, dtype=np.uint8),
        "y_test": np.asarray(y_test, dtype=np.int64),
        "source_index": np.arange(n, dtype=np.int64) if data.source_index is None
        else np.asarray(data.source_index, dtype=np.int64),
        "test_source_index": np.arange(m, dtype=np.int64) if data.test_source_index is None
        else np.asarray(data.test_source_index, dtype=np.int64),
    }
    for name, array in arrays.items():
        with atomic_path(folder / f"{name}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
    meta = {
        "version": VERSION, "name": data.name, "num_train": n, "num_test": m,
        "num_classes": data.num_classes, "class_names": list(data.class_names),
        "image_shape": list(data.x_train.shape[1:]), "mean": list(data.mean), "std": list(data.std),
        "has_test": bool(m), "is_subset": data.source_index is not None or data.test_source_index is not None,
        "fine_to_coarse": None if data.fine_to_coarse is None else np.asarray(data.fine_to_coarse).tolist(),
        "file_names": data.file_names, "test_file_names": data.test_file_names,
    }
    meta.update(info or {})
    write_json_atomic(folder / META_FILE, meta)
    return folder


def prepared_metadata(folder) -> dict[str, Any]:
    """``dataset.json`` of a prepared folder (a clear error when it is missing or unreadable)."""
    path = pathlib.Path(folder).expanduser() / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {folder} is not a prepared dataset "
                                "(the pipeline's prepare_data stage writes it)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: prepared-dataset version {meta.get('version')!r}, this code reads {VERSION}; "
                         "prepare the dataset again (delete the folder and rerun)")
    return meta


def load_prepared(folder) -> ImageDataset:
    """A prepared folder as an :class:`ImageDataset` whose arrays are read-only memory maps."""
    folder = pathlib.Path(folder).expanduser()
    meta = prepared_metadata(folder)
    arrays = {}
    for name in ARRAYS:
        path = folder / f"{name}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the prepared dataset {folder} is incomplete; "
                                    "prepare it again")
        arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
    n, m = meta["num_train"], meta["num_test"]
    if arrays["x_train"].shape[0] != n or arrays["y_train"].shape[0] != n or arrays["x_test"].shape[0] != m:
        raise ValueError(f"{folder}: arrays do not match {META_FILE} ({n} training / {m} test images); "
                         "prepare it again")
    f2c = meta.get("fine_to_coarse")
    return ImageDataset(
        name=meta["name"], x_train=arrays["x_train"], y_train=arrays["y_train"],
        x_test=arrays["x_test"] if m else None, y_test=arrays["y_test"] if m else None,
        num_classes=int(meta["num_classes"]), class_names=list(meta["class_names"]),
        mean=tuple(meta["mean"]), std=tuple(meta["std"]), file_names=meta.get("file_names"),
        fine_to_coarse=None if f2c is None else np.asarray(f2c, dtype=np.int64),
        test_file_names=meta.get("test_file_names"),
        source_index=arrays["source_index"] if meta.get("is_subset") else None,
        test_source_index=arrays["test_source_index"] if meta.get("is_subset") else None,
    )
