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
        bmm = schema.validate(dict(bmm or {}), "bmm")   # the schema's defaults where not given
        posterior = fit_per_epoch(suspicion[None, :], n_iter=bmm["n_iter"], lower=bmm["lower_percentile"],
                                  upper=bmm["upper_percentile"])["posterior"][0]
    n = suspicion.shape[0]
    index = np.arange(n)
    order = np.lexsort((index, -suspicion))
    given = np.asarray(record["noisy_label"], dtype=np.int64)
    pred = np.asarray(record["pred"], dtype=np.int64)[-1]

    def names(labels):
        if class_names is None:
            return [""] * len(labels)
        return [class_names[c] if 0 <= c < len(class_names) else "" for c in labels.tolist()]

    files = np.asarray(file_names if file_names is not None else [""] * n, dtype=object)
    if files.shape[0] != n:
        raise ValueError(f"{files.shape[0]} file names for {n} training samples")
    table = pd.DataFrame({
        "rank": np.arange(1, n + 1),
        "index": index[order],
        "file_name": files[order],
        "given_label": given[order],
        "given_class": np.asarray(names(given), dtype=object)[order],
        "predicted_label": pred[order],
        "predicted_class": np.asarray(names(pred), dtype=object)[order],
        "noise_probability": np.asarray(posterior, dtype=np.float64)[order],
        "signal": signal,
        "score": raw[order],
        "true_label": np.asarray(record["true_label"], dtype=np.int64)[order],
        "is_noisy": np.asarray(record["is_noisy"], dtype=np.int64)[order],
    })
    return table



