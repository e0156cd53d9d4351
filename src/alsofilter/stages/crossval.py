"""Stage ``crossval`` (rules ``crossval_fold``, ``crossval_cleanlab_network``,
``crossval_cleanlab_pixels``): confident learning on out-of-sample probabilities
(:mod:`alsofilter.detectors.confident_learning`)."""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.confident_learning import (cleanlab_detection, fold_indices, out_of_fold_probabilities,
                                                     pixel_probabilities, write_detection,
                                                     write_fold_predictions)
from alsofilter.logs import setup_logging
from alsofilter.stages.train import training_job_options
from alsofilter.training.job import run_training_job


def run_fold_job(noise_csv, settings: Mapping, fold: int, n_folds: int, out_predictions, out_signals,
                 out_history, out_provenance, dataset: str, **job_options) -> None:
    """One fold job of ``cleanlab_network``: train the AdamW baseline's recipe on the other K−1
    folds (an ordinary, resumable training job) and write the held-out fold's probabilities at the
    last epoch (:func:`write_fold_predictions`). Folds are split with the run's seed."""
    labels, _ = _noise_table(noise_csv)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold} is not in 0..{n_folds - 1}")
    train_index, held_out_index = fold_indices(labels, n_folds, settings["seed"])[fold]
    data = load_pipeline_dataset(dataset, job_options.get("data_dir"), job_options.get("dataset_options"))
    trainer = run_training_job(noise_csv, settings, out_signals, out_history, out_provenance,
                               dataset=dataset, train_index=train_index, data=data, **job_options)
    held_x = torch.from_numpy(np.ascontiguousarray(data.x_train[held_out_index])).to(trainer.device)
    held_y = torch.from_numpy(labels[held_out_index].astype(np.int64)).to(trainer.device)
    proba = trainer.predict(held_x, held_y)["proba"].cpu().numpy()
    write_fold_predictions(out_predictions, fold, n_folds, train_index, held_out_index, proba)



def _noise_table(noise_csv):
    table = read_noise_table(noise_csv)
    return table["noisy_label"].to_numpy(), table["is_noisy"].to_numpy(dtype=bool)



def cleanlab_network_files(noise_csv, fold_files, out_npz, out_metrics) -> pd.DataFrame:
    """The ``cleanlab_network`` detector from K fold jobs' prediction files."""
    labels, is_noisy = _noise_table(noise_csv)
    proba = out_of_fold_probabilities(fold_files, len(labels))
    return write_detection(out_npz, out_metrics, "cleanlab_network", is_noisy, proba,
                           cleanlab_detection(labels, proba), runs=len(fold_files))



def cleanlab_pixels_files(noise_csv, dataset: str, data_dir, dataset_options, n_folds: int, seed: int,
                          out_npz, out_metrics) -> pd.DataFrame:
    """The ``cleanlab_pixels`` detector: pixel classifier over K folds, then cleanlab."""
    labels, is_noisy = _noise_table(noise_csv)
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    if data.num_train != len(labels):
        raise ValueError(f"{noise_csv} has {len(labels)} rows, dataset {dataset!r} has {data.num_train}")
    start = time.perf_counter()
    proba = pixel_probabilities(data.x_train, labels, n_folds, seed)
    seconds = time.perf_counter() - start
    return write_detection(out_npz, out_metrics, "cleanlab_pixels", is_noisy, proba,
                           cleanlab_detection(labels, proba), seconds=seconds, runs=0)


def rule_crossval_fold(smk) -> None:
    """Rule ``crossval_fold``."""
    setup_logging(smk.log[0])
    run_fold_job(smk.input.noise, smk.params.settings, int(smk.wildcards.fold), smk.params.folds,
                 smk.output.predictions, smk.output.signals, smk.output.history, smk.output.provenance,
                 dataset=smk.wildcards.dataset, **training_job_options(smk))


def rule_crossval_cleanlab_network(smk) -> None:
    """Rule ``crossval_cleanlab_network``."""
    setup_logging(smk.log[0])
    cleanlab_network_files(smk.input.noise, smk.input.folds, smk.output.detection, smk.output.metrics)


def rule_crossval_cleanlab_pixels(smk) -> None:
    """Rule ``crossval_cleanlab_pixels``."""
    setup_logging(smk.log[0])
    cleanlab_pixels_files(smk.input.noise, smk.wildcards.dataset, smk.params.data_dir, smk.params.dataset_options,
                          smk.params.folds, int(smk.wildcards.seed), smk.output.detection, smk.output.metrics)
