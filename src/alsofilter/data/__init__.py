"""Datasets as uint8 arrays (SPEC §6), one module per kind of source.

Every loader returns an :class:`ImageDataset`: uint8 images ``(N, C, H, W)``, int64 labels, the
class names and the per-channel mean/std of the training images (in [0, 1] units) used for
normalisation. Augmentation and tensors are the training code's business.

Sources (``format`` of a configured dataset)
--------------------------------------------
``digits``        scikit-learn's bundled 8x8 digits (:mod:`.digits`), a fixed stratified split.
``cifar10``       ``<data_dir>/cifar-10-batches-py`` (:mod:`.cifar`), the python version from
                  https://www.cs.toronto.edu/~kriz/cifar.html, training batches 1..5 in order, i.e.
                  the torchvision training order that CIFAR-10N's labels refer to.
``cifar100``      ``<data_dir>/cifar-100-python``, fine labels; ``fine_to_coarse`` from the coarse ones.
``npz``           one's own arrays (:mod:`.npz`).
``image_folder``  one's own images (:mod:`.image_folder`): ``root/<class>/<file>``, or
                  ``root/train/<class>/…`` plus ``root/test/<class>/…``.
``prepared``      the pipeline's own cache of any of the above (:mod:`.prepared`): uint8 ``.npy``
                  arrays that load memory-mapped in milliseconds; what the pipeline's jobs read.

:mod:`.subset` cuts any of them to a deterministic stratified subset.
"""
from __future__ import annotations

import pathlib
from typing import Any

from alsofilter.data.cifar import (CIFAR10_DIRNAME, CIFAR10_MD5, CIFAR100_DIRNAME, CIFAR100_MD5, CIFAR_TRAIN_SIZE,
                    CIFAR_URL, RestrictedUnpickler, _meta_names, _resolve_data_dir, cifar_files_present,
                    download_cifar, load_cifar10, load_cifar100, safe_load_pickle)
from alsofilter.data.container import ImageDataset, channel_stats
from alsofilter.data.digits import DIGITS_SIZE, digits_train_size, load_digits_dataset
from alsofilter.data.image_folder import IMAGE_EXTENSIONS, image_folder_entries, image_folder_layout, load_image_folder
from alsofilter.data.npz import _string_list, load_npz, npz_train_size
from alsofilter.data.prepared import load_prepared, prepared_metadata, write_prepared
from alsofilter.data.subset import stratified_split, stratified_subset, subset_dataset

__all__ = [
    "ImageDataset", "DATASETS", "FORMATS", "CIFAR10_MD5", "CIFAR100_MD5", "CIFAR_URL", "CIFAR_TRAIN_SIZE",
    "DIGITS_SIZE", "IMAGE_EXTENSIONS", "load_dataset", "load_digits_dataset", "load_cifar10",
    "load_cifar100", "load_npz", "load_image_folder", "image_folder_entries", "image_folder_layout",
    "load_prepared", "write_prepared", "prepared_metadata", "cifar_files_present", "download_cifar",
    "dataset_metadata", "digits_train_size", "npz_train_size", "channel_stats", "safe_load_pickle",
    "RestrictedUnpickler", "stratified_split", "stratified_subset", "subset_dataset",
]

DATASETS = ("digits", "cifar10", "cifar100")
#: what a configured dataset can be: a built-in, an .npz file or a folder of class folders
FORMATS = DATASETS + ("npz", "image_folder")


# --------------------------------------------------------------------------------------------
# metadata without loading the images


def dataset_metadata(fmt: str, path=None, **options) -> dict[str, Any]:
    """``class_names`` and ``file_names`` (None when the source has none) of a dataset, read
    without decoding its images (what the ranked list of suspicious samples needs)."""
    if fmt == "digits":
        return {"class_names": [str(i) for i in range(10)], "file_names": None}
    if fmt == "cifar10":
        root = _resolve_data_dir(path, "cifar10")
        folder = root if root.name == CIFAR10_DIRNAME else root / CIFAR10_DIRNAME
        return {"class_names": _meta_names(folder / "batches.meta", "label_names", 10), "file_names": None}
    if fmt == "cifar100":
        root = _resolve_data_dir(path, "cifar100")
        folder = root if root.name == CIFAR100_DIRNAME else root / CIFAR100_DIRNAME
        return {"class_names": _meta_names(folder / "meta", "fine_label_names", 100), "file_names": None}
    if fmt == "prepared":
        meta = prepared_metadata(path)
        return {"class_names": meta["class_names"], "file_names": meta["file_names"]}
    if fmt == "npz":
        import numpy as np

        ds_path = pathlib.Path(path).expanduser()
        with np.load(ds_path, allow_pickle=False) as npz:
            y = np.asarray(npz["y"])
            class_names = (_string_list(npz["class_names"], "class_names", ds_path)
                           if "class_names" in npz.files else None)
            file_names = (_string_list(npz["file_names"], "file_names", ds_path)
                          if "file_names" in npz.files else None)
            if class_names is None:
                top = int(y.max()) if y.size else 0
                if "y_test" in npz.files and np.asarray(npz["y_test"]).size:
                    top = max(top, int(np.asarray(npz["y_test"]).max()))
                class_names = [str(i) for i in range(top + 1)]
        return {"class_names": class_names, "file_names": file_names}
    if fmt == "image_folder":
        root = pathlib.Path(path).expanduser()
        classes, entries = image_folder_entries(root)
        return {"class_names": classes, "file_names": [p.relative_to(root).as_posix() for p, _ in entries["train"]]}
    raise ValueError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")


# --------------------------------------------------------------------------------------------
# dispatch

_OPTIONS = {
    "digits": ("test_fraction", "split_seed"),
    "cifar10": ("verify_md5",),
    "cifar100": ("verify_md5",),
    "npz": ("path",),
    "image_folder": ("path", "workers", "skip_unreadable"),
    "prepared": ("path",),
}


def load_dataset(name: str, data_dir=None, **options) -> ImageDataset:
    """Load a dataset by name: one of :data:`DATASETS`.

    ``digits`` takes ``test_fraction``/``split_seed``; ``cifar10``/``cifar100`` need ``data_dir``
    and take ``verify_md5``. Also ``"npz"``, ``"image_folder"`` (options ``workers``: decoding
    threads; ``skip_unreadable``: leave out files that cannot be decoded) and ``"prepared"`` (the pipeline's cache), whose file or folder is given as ``path``
    (or ``data_dir``).
    """
    if name not in _OPTIONS:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
            "(and 'npz' / 'image_folder' with a path)"
        )
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        allowed = ", ".join(_OPTIONS[name]) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; allowed: {allowed}")
    if name == "digits":
        return load_digits_dataset(**options)
    if name == "cifar10":
        return load_cifar10(data_dir, **options)
    if name == "cifar100":
        return load_cifar100(data_dir, **options)
    path = options.get("path", data_dir)
    if path is None:
        raise ValueError(f"dataset {name!r} needs a path (option 'path' or data_dir)")
    if name == "npz":
        return load_npz(path)
    if name == "prepared":
        return load_prepared(path)
    return load_image_folder(path, workers=options.get("workers", 1),
                             skip_unreadable=bool(options.get("skip_unreadable", False)))
