"""Stage ``downstream`` (rules ``cleaned_labels``, ``downstream``): does filtering help?

``cleaned_labels``: per (scenario, seed), each configured detector's last-epoch decision turned
into a ``cleaned_labels.csv`` per mode (:mod:`alsofilter.detectors.decisions`).

``retrain`` (its own stage, :mod:`alsofilter.stages.retrain`) trains on each of them.

``downstream``: the table and figure over every retraining (:mod:`alsofilter.reporting.downstream`).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from alsofilter.data.loading import pipeline_dataset_metadata
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.decisions import (cleaned_labels, detector_decision, parse_detector,
                                            read_cleaned_labels, training_set)
from alsofilter.io import write_text_atomic
from alsofilter.logs import setup_logging
from alsofilter.reporting.downstream import aggregate, markdown, paired_accuracy, plot_downstream, variant_row, with_verdicts


log = logging.getLogger(__name__)


def cleaned_labels_files(noise_csv, variants: Sequence[tuple[str, str]], out_paths: Sequence,
                         run_files: Mapping | None = None, crossval_files: Mapping | None = None,
                         file_names: Sequence[str] | None = None) -> dict[tuple[str, str], pd.DataFrame]:
    """Write the ``cleaned_labels.csv`` of each (detector, mode) of ``variants`` on one (scenario,
    seed) to the path of the same position in ``out_paths`` (atomically). ``run_files``: method →
    (signals.npz, mixture.npz); ``crossval_files``: detector → detection.npz."""
    if len(out_paths) != len(variants):
        raise ValueError(f"{len(out_paths)} output paths for {len(variants)} (detector, mode) pairs")
    noise_table = read_noise_table(noise_csv)
    given = noise_table["noisy_label"].to_numpy()
    crossval_files = dict(crossval_files or {})
    decisions, tables = {}, {}
    for (name, mode), path in zip(variants, out_paths):
        if name not in decisions:
            decisions[name] = detector_decision(parse_detector(name), noise_table, run_files,
                                                crossval_files.get(name))
        decision = decisions[name]
        table = cleaned_labels(given, decision["flagged"], decision["predicted"], decision["noise_probability"],
                               mode, file_names)
        write_text_atomic(path, table.to_csv(index=False))
        tables[(name, mode)] = table
    return tables


def cleaned_labels_stage(noise_csv, variants: Sequence[tuple[str, str]], out_paths: Sequence, methods: Sequence[str],
                         signals_paths: Sequence, mixture_paths: Sequence, crossval_files: Mapping,
                         dataset: str, data_dir=None, dataset_options=None) -> dict:
    """The ``cleaned_labels`` stage of one (scenario, seed): :func:`cleaned_labels_files` with the
    runs of ``methods`` (their ``signals_paths`` and ``mixture_paths``, same order) and the
    dataset's file names where it has them."""
    file_names = pipeline_dataset_metadata(dataset, data_dir, dataset_options)["file_names"]
    run_files = {m: (s, x) for m, s, x in zip(methods, signals_paths, mixture_paths, strict=True)}
    return cleaned_labels_files(noise_csv, [tuple(v) for v in variants], list(out_paths), run_files,
                                crossval_files, file_names)


def downstream_files(items: Sequence, out_csv, out_md, out_png, out_pdf, datasets: Sequence = (),
                     out_paired=None) -> pd.DataFrame:
    """The downstream stage. ``items``: one :class:`~alsofilter.config.downstream.DownstreamItem`
    (scenario key, detector, mode, cleaned_labels.csv, history.csv, noise.csv, [benchmark files])
    per (scenario, seed, detector, mode), or a tuple of the same fields;
    ``datasets``: the prepared datasets' ``dataset.json`` (their test-set sizes go into the
    intervals of the paired comparisons, :func:`~alsofilter.reporting.downstream.paired_accuracy`)."""
    rows = pd.DataFrame([variant_row(*item) for item in items])
    test_sizes = {}
    for path in datasets:
        meta = json.loads(Path(path).read_text())
        test_sizes[meta["name"]] = int(meta["num_test"])
    paired = paired_accuracy(rows, test_sizes)
    table = with_verdicts(aggregate(rows), paired)
    if out_paired is not None:
        write_text_atomic(out_paired, paired.to_csv(index=False))
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, markdown(table))
    plot_downstream(table, [out_png, out_pdf])
    return table


def rule_cleaned_labels(smk) -> None:
    """Rule ``cleaned_labels``."""
    setup_logging(smk.log[0])
    cleaned_labels_stage(smk.input.noise, smk.params.variants, smk.output.cleaned, smk.params.methods,
                         smk.input.signals, smk.input.mixtures, smk.params.crossval, dataset=smk.wildcards.dataset,
                         data_dir=smk.params.data_dir, dataset_options=smk.params.dataset_options)


def rule_downstream(smk) -> None:
    """Rule ``downstream``."""
    setup_logging(smk.log[0])
    downstream_files(smk.params.variants, smk.output.csv, smk.output.md, smk.output.png, smk.output.pdf,
                     datasets=smk.input.datasets, out_paired=smk.output.paired)
