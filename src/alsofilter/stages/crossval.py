"""Stage ``crossval`` (rules ``crossval_cleanlab_network``, ``crossval_cleanlab_pixels``):
confident learning on out-of-sample probabilities (:mod:`alsofilter.detectors.confident_learning`);
the network's come from the fold jobs of the stage ``crossval_folds``."""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import pandas as pd

from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.confident_learning import (cleanlab_detection, fold_indices, out_of_fold_probabilities,
                                                     pixel_probabilities, write_detection,
                                                     write_fold_predictions)
from alsofilter.logs import setup_logging


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
                          out_npz, out_metrics, classifier: str = "logreg") -> pd.DataFrame:
    """The ``cleanlab_pixels`` detector: pixel classifier ``classifier`` over K folds, then cleanlab."""
    labels, is_noisy = _noise_table(noise_csv)
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    if data.num_train != len(labels):
        raise ValueError(f"{noise_csv} has {len(labels)} rows, dataset {dataset!r} has {data.num_train}")
    start = time.perf_counter()
    proba = pixel_probabilities(data.x_train, labels, n_folds, seed, classifier)
    seconds = time.perf_counter() - start
    return write_detection(out_npz, out_metrics, "cleanlab_pixels", is_noisy, proba,
                           cleanlab_detection(labels, proba), seconds=seconds, runs=0, classifier=classifier)


def rule_crossval_cleanlab_network(smk) -> None:
    """Rule ``crossval_cleanlab_network``."""
    setup_logging(smk.log[0])
    cleanlab_network_files(smk.input.noise, smk.input.folds, smk.output.detection, smk.output.metrics)


def rule_crossval_cleanlab_pixels(smk) -> None:
    """Rule ``crossval_cleanlab_pixels``."""
    setup_logging(smk.log[0])
    cleanlab_pixels_files(smk.input.noise, smk.wildcards.dataset, smk.params.data_dir, smk.params.dataset_options,
                          smk.params.folds, int(smk.wildcards.seed), smk.output.detection, smk.output.metrics,
                          classifier=smk.params.classifier)
