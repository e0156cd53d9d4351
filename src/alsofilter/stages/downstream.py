"""Stage ``downstream`` (rules ``cleaned_labels``, ``retrain``, ``downstream``): does filtering help?

``cleaned_labels``: per (scenario, seed), each configured detector's last-epoch decision turned
into a ``cleaned_labels.csv`` per mode (:mod:`alsofilter.detectors.decisions`).

``retrain``: one retraining job takes a ``cleaned_labels.csv`` and trains the AdamW baseline's
recipe of its scenario — same architecture, epochs, augmentation and seed — from scratch on the
samples it keeps, with the labels it gives them. It is an ordinary training job
(:func:`alsofilter.training.job.run_training_job`: checkpoints, SIGTERM, stall watchdog); its
``history.csv`` holds the clean test accuracy per epoch. A decision that keeps fewer samples than
one batch cannot be trained on: the job then writes an empty history and says why in
``provenance.json`` (``skipped``), and the downstream table shows no accuracy for it, rather than
failing the whole experiment on a legitimate outcome.

``downstream``: the table and figure over every retraining (:mod:`alsofilter.reporting.downstream`).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from alsofilter.config.settings import TrainConfig
from alsofilter.data.loading import pipeline_dataset_metadata
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.decisions import (cleaned_labels, detector_decision, parse_detector,
                                            read_cleaned_labels, training_set)
from alsofilter.io import atomic_path, write_json_atomic, write_text_atomic
from alsofilter.logs import setup_logging
from alsofilter.reporting.downstream import aggregate, markdown, plot_downstream, variant_row
from alsofilter.stages.train import training_job_options
from alsofilter.training.job import run_training_job

log = logging.getLogger(__name__)


def retrain_job(noise_csv, cleaned_labels_csv, settings: Mapping[str, Any], out_signals, out_history,
                out_provenance, dataset: str, **job_options):
    """Train on what ``cleaned_labels_csv`` keeps; write the job's signals, history, provenance.
    ``job_options``: those of :func:`~alsofilter.training.job.run_training_job`. Returns the trainer
    (``None`` when the kept set is too small to train on)."""
    table = read_cleaned_labels(cleaned_labels_csv)
    noise = read_noise_table(noise_csv)
    if len(table) != len(noise) or not np.array_equal(table["given_label"].to_numpy(),
                                                      noise["noisy_label"].to_numpy()):
        raise ValueError(f"{cleaned_labels_csv} does not belong to {noise_csv}: its given labels differ")
    index, labels = training_set(table)
    kept_correct = float(np.mean(labels[index] == noise["true_label"].to_numpy()[index])) if len(index) else np.nan
    extra = {"cleaned_labels": str(cleaned_labels_csv), "kept": int(len(index)), "samples": int(len(table)),
             "kept_labels_correct": kept_correct}
    batch_size = int(settings.get("batch_size", TrainConfig.batch_size))
    if len(index) < max(2, batch_size):
        reason = f"the decision keeps {len(index)} of {len(table)} samples, fewer than one batch ({batch_size})"
        log.warning("not retraining: %s", reason)
        with atomic_path(out_signals) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, train_index=index)
        write_text_atomic(out_history, pd.DataFrame(columns=["epoch", "train_loss", "train_acc", "test_acc"])
                          .to_csv(index=False))
        write_json_atomic(out_provenance, {"settings": dict(settings), "skipped": reason, **extra})
        return None
    log.info("retraining on %d of %d samples (%d relabelled), %.1f%% of the kept labels correct",
             len(index), len(table), int((table["decision"] == "relabel").sum()), 100 * kept_correct)
    return run_training_job(noise_csv, settings, out_signals, out_history, out_provenance, dataset=dataset,
                            train_index=index, train_labels=np.where(labels < 0, 0, labels),
                            extra_provenance=extra, **job_options)


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


def downstream_files(items: Sequence, out_csv, out_md, out_png, out_pdf) -> pd.DataFrame:
    """The downstream stage. ``items``: ``(scenario key, detector, mode, cleaned_labels.csv,
    history.csv, noise.csv, [benchmark files])`` per (scenario, seed, detector, mode)."""
    rows = pd.DataFrame([variant_row(*item) for item in items])
    table = aggregate(rows)
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


def rule_retrain(smk) -> None:
    """Rule ``retrain``."""
    setup_logging(smk.log[0])
    retrain_job(smk.input.noise, smk.input.cleaned, smk.params.settings, smk.output.signals, smk.output.history,
                smk.output.provenance, dataset=smk.wildcards.dataset, **training_job_options(smk))


def rule_downstream(smk) -> None:
    """Rule ``downstream``."""
    setup_logging(smk.log[0])
    downstream_files(smk.params.variants, smk.output.csv, smk.output.md, smk.output.png, smk.output.pdf)
