"""Loading the dataset a config names: built-in, one's own files, or the prepare_data stage's cache."""
from __future__ import annotations

from typing import Any, Mapping

from alsofilter.data import dataset_metadata, download_cifar, load_dataset


def load_pipeline_dataset(name: str, data_dir: str | None, options: Mapping[str, Any] | None = None):
    """Load the dataset that the config calls ``name``.

    ``options`` is :func:`alsofilter.config.dataset_spec`: ``format`` (default: ``name``), ``path``
    (the .npz file / image folder, or a CIFAR folder instead of ``data_dir``), ``download``
    (CIFAR: fetch with torchvision when the files are missing) and the loader's own options
    (``verify_md5``; digits' ``test_fraction``/``split_seed``). The pipeline's jobs get
    ``{"format": "prepared", "path": <the prepare_data stage's folder>}``.
    """
    opts = dict(options or {})
    fmt = opts.pop("format", None) or name
    path = opts.pop("path", None)
    download = bool(opts.pop("download", False))
    if fmt in ("cifar10", "cifar100"):
        root = path or data_dir
        if download:
            download_cifar(root, fmt)
        data = load_dataset(fmt, data_dir=root, **opts)
    elif fmt in ("npz", "image_folder", "prepared"):
        if not path:
            raise ValueError(f"dataset {name!r} (format {fmt}) needs a path (config key datasets.{name}.path)")
        data = load_dataset(fmt, path=path, **opts)
    else:
        data = load_dataset(fmt, data_dir=data_dir, **opts)
    data.name = name
    return data



def pipeline_dataset_metadata(dataset: str, data_dir: str | None = None,
                              dataset_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``class_names`` and ``file_names`` of the dataset a job reads (see
    :func:`load_pipeline_dataset`), without decoding its images."""
    spec = dict(dataset_options or {})
    fmt = spec.pop("format", None) or dataset
    path = spec.pop("path", None)
    if fmt in ("cifar10", "cifar100"):
        path = path or data_dir
    return dataset_metadata(fmt, path)



