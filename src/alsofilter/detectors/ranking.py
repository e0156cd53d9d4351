"""Ranking a run's training samples, most suspicious first (``ranked_samples.csv``)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from alsofilter.config import schema
from alsofilter.config.settings import base_method
from alsofilter.detectors.bmm import fit_per_epoch
from alsofilter.detectors.signals import suspicion_score


RANKED_COLUMNS = ("rank", "index", "file_name", "given_label", "given_class", "predicted_label",
                  "predicted_class", "noise_probability", "signal", "score", "true_label", "is_noisy")



def primary_signal(method: str) -> str:
    """The method's own detector: ALSO's weight π, AdamW's per-sample loss (a variant: its method's)."""
    return "loss" if base_method(method) == "adamw" else "weight"



def ranked_table(suspicion: np.ndarray, raw: np.ndarray, posterior: np.ndarray, given: np.ndarray, *,
                 predicted: np.ndarray | None = None, true_labels: np.ndarray | None = None,
                 signal: str | None = None, class_names=None, file_names=None) -> pd.DataFrame:
    """Samples most suspicious first (by ``suspicion``, ties in index order), one row each.

    suspicion, raw, posterior : (N,) float — the score that orders (higher = more suspicious),
    the value shown as ``score``, the noise probability; given, predicted, true_labels : (N,) int.
    Columns: those of :data:`RANKED_COLUMNS` that are known — without ``predicted``, no
    ``predicted_label`` / ``predicted_class``; without ``true_labels``, no ``true_label`` /
    ``is_noisy``; without ``signal``, no ``signal``."""
    suspicion = np.asarray(suspicion, dtype=np.float64)
    n = suspicion.shape[0]
    index = np.arange(n)
    order = np.lexsort((index, -suspicion))
    given = np.asarray(given, dtype=np.int64)

    def names(labels):
        if class_names is None:
            return np.asarray([""] * len(labels), dtype=object)
        return np.asarray([class_names[c] if 0 <= c < len(class_names) else "" for c in labels.tolist()], dtype=object)

    files = np.asarray(file_names if file_names is not None else [""] * n, dtype=object)
    if files.shape[0] != n:
        raise ValueError(f"{files.shape[0]} file names for {n} training samples")
    columns = {"rank": np.arange(1, n + 1), "index": index[order], "file_name": files[order],
               "given_label": given[order], "given_class": names(given)[order]}
    if predicted is not None:
        predicted = np.asarray(predicted, dtype=np.int64)
        columns.update(predicted_label=predicted[order], predicted_class=names(predicted)[order])
    columns["noise_probability"] = np.asarray(posterior, dtype=np.float64)[order]
    if signal is not None:
        columns["signal"] = signal
    columns["score"] = np.asarray(raw, dtype=np.float64)[order]
    if true_labels is not None:
        true_labels = np.asarray(true_labels, dtype=np.int64)
        columns.update(true_label=true_labels[order], is_noisy=(true_labels != given).astype(np.int64)[order])
    return pd.DataFrame(columns)


def ranked_samples(record: Mapping[str, np.ndarray], mixture: Mapping[str, np.ndarray], method: str,
                   class_names=None, file_names=None, bmm: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The training samples of one run, most suspicious first (last epoch, primary signal).

    Columns :data:`RANKED_COLUMNS`: ``score`` is the raw signal (π for ALSO, the cross-entropy for
    AdamW), ``noise_probability`` the BMM's posterior of the noisy component (fitted here if the
    run's mixture file lacks the signal), ``given_label`` the label the model was trained on,
    ``true_label``/``is_noisy`` the labels before the *injected* noise (for one's own data with
    rate 0 they equal the given labels). Ties keep index order. ``noise_probability`` is at
    full precision here and rounded to 6 decimals in the CSV.
    """
    signal = primary_signal(method)
    if signal not in record:
        raise ValueError(f"the run recorded no {signal!r} (has {sorted(record)}); cannot rank its samples")
    suspicion = suspicion_score(signal, record)[-1]
    raw = np.asarray(record[signal], dtype=np.float64)[-1]
    if f"{signal}/posterior" in mixture:
        posterior = np.asarray(mixture[f"{signal}/posterior"])[-1]
    else:
        posterior = bmm_posterior(suspicion, bmm)
    table = ranked_table(suspicion, raw, posterior, record["noisy_label"], predicted=np.asarray(record["pred"])[-1],
                         true_labels=record["true_label"], signal=signal, class_names=class_names,
                         file_names=file_names)
    # the record's own is_noisy (the noise file's), which equals true_label != given_label
    table["is_noisy"] = np.asarray(record["is_noisy"], dtype=np.int64)[table["index"].to_numpy()]
    return table


def bmm_posterior(suspicion: np.ndarray, bmm: Mapping[str, Any] | None = None) -> np.ndarray:
    """(N,) the Beta mixture's probability that each sample's label is wrong, from one epoch's
    suspicion scores (N,) (higher = more suspicious); ``bmm``: the config's ``bmm`` section
    (schema defaults where not given)."""
    settings = schema.validate(dict(bmm or {}), "bmm")
    return fit_per_epoch(np.asarray(suspicion, dtype=np.float64)[None, :], n_iter=settings["n_iter"],
                         lower=settings["lower_percentile"], upper=settings["upper_percentile"])["posterior"][0]
