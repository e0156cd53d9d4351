"""Stage ``retrain`` (rule ``retrain``): does a detector's decision give a better model?

One retraining job takes a ``cleaned_labels.csv`` (:mod:`alsofilter.detectors.decisions`, rule
``cleaned_labels``) and trains the AdamW baseline's recipe of its scenario — same architecture,
epochs, augmentation and seed — from scratch on the samples it keeps, with the labels it gives
them. It is an ordinary training job (:func:`alsofilter.training.job.run_training_job`:
checkpoints, SIGTERM, stall watchdog); its ``history.csv`` holds the clean test accuracy per epoch.

A decision that keeps fewer samples than one batch cannot be trained on: the job then writes
an empty history and says why in ``provenance.json`` (``skipped``), and the downstream table
shows no accuracy for it, rather than failing the whole experiment on a legitimate outcome.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from alsofilter.config.settings import TrainConfig
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.decisions import read_cleaned_labels, training_set
from alsofilter.io import atomic_path, write_json_atomic, write_text_atomic
from alsofilter.logs import setup_logging
from alsofilter.stages import training_job_options
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


def rule_retrain(smk) -> None:
    """Rule ``retrain``."""
    setup_logging(smk.log[0])
    retrain_job(smk.input.noise, smk.input.cleaned, smk.params.settings, smk.output.signals, smk.output.history,
                smk.output.provenance, dataset=smk.wildcards.dataset, **training_job_options(smk))
