"""Stage ``prepare_data`` (rule ``prepare_data``): a dataset's source, decoded once per experiment into the pipeline's
cache (:mod:`alsofilter.data.prepared`), optionally cut to a stratified subset.

Every later job of the experiment (noise, training, cross-validation, ranking) reads the cache,
memory-mapped, instead of decoding the source again. The cache records a *fingerprint* of its
source — names, sizes and modification times of the source's files, no image decoded — and the
rule passes the current fingerprint as a parameter, so a changed source (a file added, removed,
replaced or touched) prepares the dataset again, and everything downstream reruns with it.
"""
from __future__ import annotations

import logging
import pathlib
import time
from typing import Any, Mapping

import pandas as pd

from alsofilter.data import subset_dataset, write_prepared
from alsofilter.data.cifar import check_cifar10_classes
from alsofilter.data.fingerprint import source_fingerprint
from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.subset import check_subset
from alsofilter.io import write_text_atomic
from alsofilter.logs import setup_logging

log = logging.getLogger(__name__)

#: the source files left out as unreadable (``skip_unreadable``), next to the prepared data;
#: not one of the stage's declared outputs: it exists only where files were skipped
UNREADABLE_FILE = "unreadable_files.csv"


def write_unreadable(out_dir, unreadable) -> pathlib.Path:
    """``unreadable_files.csv`` in ``out_dir``: ``file_name`` (relative to the source) and
    ``error`` of each file left out; an earlier list is removed when nothing was left out."""
    path = pathlib.Path(out_dir) / UNREADABLE_FILE
    if not unreadable:
        path.unlink(missing_ok=True)
        return path
    write_text_atomic(path, pd.DataFrame(unreadable, columns=["file_name", "error"]).to_csv(index=False))
    return path


def prepare_dataset(name: str, out_dir, data_dir: str | None = None,
                    dataset_options: Mapping[str, Any] | None = None,
                    subset: Mapping[str, Any] | None = None, threads: int = 1):
    """Load dataset ``name`` from its source (``dataset_options``: format, path, loader options),
    cut it to ``subset`` (``{train, test, seed}``, stratified, :func:`alsofilter.data.subset_dataset`)
    and write it to ``out_dir`` as a prepared dataset. Returns the :class:`ImageDataset` written."""
    spec = dict(dataset_options or {})
    fmt = spec.get("format") or name
    options = {k: v for k, v in spec.items() if k not in ("format", "path", "download")}
    if fmt == "image_folder":
        spec["workers"] = max(1, int(threads))
    start = time.perf_counter()
    fingerprint = source_fingerprint(fmt, spec.get("path"), data_dir, options)
    data = load_pipeline_dataset(name, data_dir, spec)
    unreadable = data.unreadable_files or []
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
        "source_sizes": full, "subset": subset, "load_seconds": round(loaded - start, 3),
        **({"unreadable_files": len(unreadable)} if data.unreadable_files is not None else {})})
    listed = write_unreadable(out_dir, unreadable)
    if unreadable:
        log.warning("%s: left out %d unreadable file(s) of %s (skip_unreadable), listed in %s; first: %s",
                    name, len(unreadable), spec.get("path"), listed, unreadable[0][0])
    log.info("prepared %s (%s, %s): %d training / %d test images of %s in %.1f s (decoding %.1f s)%s",
             name, fmt, spec.get("path") or data_dir or "built in", data.num_train, data.num_test,
             "x".join(map(str, data.x_train.shape[1:])), time.perf_counter() - start, loaded - start,
             f"; subset {subset} of {full}" if subset else "")
    return data


def rule_prepare_data(smk) -> None:
    """Rule ``prepare_data``."""
    setup_logging(smk.log[0])
    prepare_dataset(smk.wildcards.dataset, smk.params.out_dir, smk.params.data_dir, smk.params.dataset_options,
                    smk.params.subset, threads=smk.threads)
