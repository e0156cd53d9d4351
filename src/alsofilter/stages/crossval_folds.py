"""Stage ``crossval_folds`` (rule ``crossval_fold``): the training jobs of ``cleanlab_network``.

Each fold job trains the AdamW baseline's recipe on the other K−1 folds (an ordinary, resumable
training job) and writes the held-out fold's probabilities at the last epoch; the stage
``crossval`` puts the folds together and runs cleanlab (:mod:`alsofilter.detectors.confident_learning`).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.confident_learning import fold_indices, write_fold_predictions
from alsofilter.logs import setup_logging
from alsofilter.stages import training_job_options
from alsofilter.training.job import run_training_job


def run_fold_job(noise_csv, settings: Mapping, fold: int, n_folds: int, out_predictions, out_signals,
                 out_history, out_provenance, dataset: str, **job_options) -> None:
    """One fold job of ``cleanlab_network``: train the AdamW baseline's recipe on the other K−1
    folds (an ordinary, resumable training job) and write the held-out fold's probabilities at the
    last epoch (:func:`write_fold_predictions`). Folds are split with the run's seed."""
    labels = read_noise_table(noise_csv)["noisy_label"].to_numpy()
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


def rule_crossval_fold(smk) -> None:
    """Rule ``crossval_fold``."""
    setup_logging(smk.log[0])
    run_fold_job(smk.input.noise, smk.params.settings, int(smk.wildcards.fold), smk.params.folds,
                 smk.output.predictions, smk.output.signals, smk.output.history, smk.output.provenance,
                 dataset=smk.wildcards.dataset, **training_job_options(smk))
