"""The prepare_data stage: a dataset's source, decoded once per experiment into the pipeline's
cache (:mod:`alsofilter.data.prepared`), optionally cut to a stratified subset.

Every later job of the experiment (noise, training, cross-validation, ranking) reads the cache,
memory-mapped, instead of decoding the source again. The cache records a *fingerprint* of its
source — names, sizes and modification times of the source's files, no image decoded — and the
rule passes the current fingerprint as a parameter, so a changed source (a file added, removed,
replaced or touched) prepares the dataset again, and everything downstream reruns with it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import time
from typing import Any, Mapping

log = logging.getLogger(__name__)

#: keys of a dataset's ``subset`` config section
SUBSET_KEYS = ("train", "test", "seed")


def source_files(fmt: str, path=None, data_dir=None) -> list[pathlib.Path]:
    """The files a dataset of format ``fmt`` is read from (what its fingerprint covers)."""
    from . import data

    if fmt == "digits":
        csv = data.digits._digits_csv()
        return [csv] if csv is not None else []
    if fmt in ("cifar10", "cifar100"):
        root = pathlib.Path(path or data_dir or ".").expanduser()
        dirname = data.cifar.CIFAR10_DIRNAME if fmt == "cifar10" else data.cifar.CIFAR100_DIRNAME
        folder = root if root.name == dirname else root / dirname
        return sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if fmt == "npz":
        return [pathlib.Path(path).expanduser()]
    if fmt == "image_folder":
        root = pathlib.Path(path).expanduser()
        if not root.is_dir():
            return []
        _, entries = data.image_folder_entries(root)
        return [p for items in entries.values() for p, _ in items]
    raise ValueError(f"unknown dataset format {fmt!r}")


def source_fingerprint(fmt: str, path=None, data_dir=None, options: Mapping[str, Any] | None = None) -> str:
    """sha256 over the format, loader options and each source file's relative name, size and
    modification time (ns). Cheap: one ``stat`` per file (50 000 files: well under a second)."""
    digest = hashlib.sha256(f"{fmt}|{sorted((options or {}).items())!r}".encode())
    files = source_files(fmt, path, data_dir)
    base = str(pathlib.Path(path or data_dir or ".").expanduser()) + os.sep
    for f in map(str, files):
        try:
            st = os.stat(f)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        name = f[len(base):] if f.startswith(base) else f    # relative: the folder may move
        digest.update(f"{name}|{stamp}\n".encode())
    return f"{len(files)}:{digest.hexdigest()}"


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


def check_cifar10_classes(class_names, source) -> None:
    """The dataset called ``cifar10`` read from another format must have CIFAR-10's classes, so
    that its labels, the standard asymmetric mapping and the paper's numbers mean what they say."""
    from .data.cifar import CIFAR10_CLASSES

    if list(class_names) != list(CIFAR10_CLASSES):
        raise ValueError(f"dataset 'cifar10' from {source}: its classes are {list(class_names)}, CIFAR-10's are "
                         f"{list(CIFAR10_CLASSES)}; name your own data something else than cifar10")


def prepare_dataset(name: str, out_dir, data_dir: str | None = None,
                    dataset_options: Mapping[str, Any] | None = None,
                    subset: Mapping[str, Any] | None = None, threads: int = 1):
    """Load dataset ``name`` from its source (``dataset_options``: format, path, loader options),
    cut it to ``subset`` (``{train, test, seed}``, stratified, :func:`alsofilter.data.subset_dataset`)
    and write it to ``out_dir`` as a prepared dataset. Returns the :class:`ImageDataset` written."""
    from .data import subset_dataset, write_prepared
    from .pipeline import load_pipeline_dataset

    spec = dict(dataset_options or {})
    fmt = spec.get("format") or name
    options = {k: v for k, v in spec.items() if k not in ("format", "path", "download")}
    if fmt == "image_folder":
        spec["workers"] = max(1, int(threads))
    start = time.perf_counter()
    fingerprint = source_fingerprint(fmt, spec.get("path"), data_dir, options)
    data = load_pipeline_dataset(name, data_dir, spec)
    loaded = time.perf_counter()
    if name == "cifar10" and fmt != "cifar10":
        check_cifar10_classes(data.class_names, spec.get("path"))
    full = {"train": data.num_train, "test": data.num_test}
    subset = check_subset(subset, f"datasets.{name}.subset")
    if subset is not None:
        data = subset_dataset(data, subset["train"], subset["test"], subset["seed"])
        data.name = name
    write_prepared(data, out_dir, {
        "format": fmt, "source": str(spec.get("path") or data_dir or ""), "source_fingerprint": fingerprint,
        "source_sizes": full, "subset": subset, "load_seconds": round(loaded - start, 3)})
    log.info("prepared %s (%s, %s): %d training / %d test images of %s in %.1f s (decoding %.1f s)%s",
             name, fmt, spec.get("path") or data_dir or "built in", data.num_train, data.num_test,
             "x".join(map(str, data.x_train.shape[1:])), time.perf_counter() - start, loaded - start,
             f"; subset {subset} of {full}" if subset else "")
    return data
