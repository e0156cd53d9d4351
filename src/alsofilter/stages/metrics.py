"""Stage ``metrics`` (rules ``metrics`` and ``rank_samples``): how well each signal of one run
separates clean from mislabeled samples per epoch, and the run's samples ranked by suspicion."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from alsofilter.data.loading import pipeline_dataset_metadata
from alsofilter.detectors.decisions import cleaned_labels
from alsofilter.detectors.metrics import DECISION_THRESHOLD, METRIC_COLUMNS, metrics_per_epoch
from alsofilter.detectors.ranking import ranked_samples
from alsofilter.detectors.signals import signal_epochs, suspicion_score
from alsofilter.io import write_text_atomic
from alsofilter.logs import setup_logging

log = logging.getLogger(__name__)


#: decision metrics that metrics.csv also gives for the Gaussian mixture, with suffix ``_gmm``
GMM_DECISION_COLUMNS = ("precision", "recall", "f1", "noise_rate_est", "precision_at_estimate", "fit_ok")



def metrics_file(signals_npz, mixture_npz, out_csv) -> pd.DataFrame:
    """Per epoch and signal: ROC-AUC, AP, precision/recall/F1 of the BMM decision (posterior
    > 0.5), noise rates, and the same decision metrics of the Gaussian mixture (``*_gmm``)."""
    with np.load(signals_npz) as record, np.load(mixture_npz) as mixture:
        record, mixture = dict(record), dict(mixture)
    names = sorted({key.split("/")[0] for key in mixture})
    frames = []
    for name in names:
        score = suspicion_score(name, record)
        epochs = signal_epochs(name, record, score.shape[0])
        table = metrics_per_epoch(record["is_noisy"], score, mixture[f"{name}/posterior"],
                                  mixture[f"{name}/ok"], signal=name, epochs=epochs)
        if f"{name}/gmm_posterior" in mixture:
            gmm = metrics_per_epoch(record["is_noisy"], score, mixture[f"{name}/gmm_posterior"],
                                    mixture[f"{name}/gmm_ok"], signal=name, epochs=epochs)
            for col in GMM_DECISION_COLUMNS:
                table[f"{col}_gmm"] = gmm[col].to_numpy()
        frames.append(table)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["signal", "epoch", *METRIC_COLUMNS, "fit_ok"])
    write_text_atomic(out_csv, table.to_csv(index=False))
    return table



def rank_samples_file(signals_npz, mixture_npz, out_csv, method: str, dataset: str,
                      data_dir: str | None = None, dataset_options: Mapping[str, Any] | None = None,
                      bmm: Mapping[str, Any] | None = None, out_cleaned=None,
                      cleaned_mode: str = "drop") -> pd.DataFrame:
    """Write :func:`ranked_samples` of one run as CSV (file and class names from the dataset,
    read without decoding its images); with ``out_cleaned``, also the run's own decision
    (noise probability > 0.5) as ``cleaned_labels.csv`` (:mod:`alsofilter.detectors.decisions`) in
    ``cleaned_mode`` (``drop`` or ``relabel``)."""
    meta = pipeline_dataset_metadata(dataset, data_dir, dataset_options)
    with np.load(signals_npz) as record, np.load(mixture_npz) as mixture:
        record, mixture = dict(record), dict(mixture)
    table = ranked_samples(record, mixture, method, meta["class_names"], meta["file_names"], bmm)
    if out_cleaned is not None:   # the run's own decision (primary signal + BMM) as cleaned labels
        by_index = table.sort_values("index")
        cleaned = cleaned_labels(by_index["given_label"], by_index["noise_probability"] > DECISION_THRESHOLD,
                                 by_index["predicted_label"], by_index["noise_probability"], cleaned_mode,
                                 by_index["file_name"])
        write_text_atomic(out_cleaned, cleaned.to_csv(index=False))
    table["noise_probability"] = table["noise_probability"].round(6)
    write_text_atomic(out_csv, table.to_csv(index=False))
    log.info("ranked %d samples of %s by %s; %d with noise probability > 0.5",
             len(table), dataset, table["signal"].iloc[0] if len(table) else "-",
             int((table["noise_probability"] > 0.5).sum()))
    return table


def rule_metrics(smk) -> None:
    """Rule ``metrics``."""
    setup_logging(smk.log[0])
    metrics_file(smk.input.signals, smk.input.mixture, smk.output.metrics)


def rule_rank_samples(smk) -> None:
    """Rule ``rank_samples``."""
    setup_logging(smk.log[0])
    rank_samples_file(smk.input.signals, smk.input.mixture, smk.output.ranked, method=smk.wildcards.method,
                      dataset=smk.wildcards.dataset, data_dir=smk.params.data_dir,
                      dataset_options=smk.params.dataset_options, bmm=smk.params.bmm,
                      out_cleaned=smk.output.cleaned, cleaned_mode=smk.params.cleaned_mode)
