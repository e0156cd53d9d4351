"""Cleaned labels: what a detector's decision does to the training set.

A detector (see :mod:`alsofilter.reporting.leaderboard`) flags training samples as mislabeled at the last
epoch. Its *cleaned labels* say, per training sample, what to train on next:

``drop``     flagged samples leave the training set; the rest keep their given label;
``relabel``  flagged samples stay, with the label the detector's own model predicts for them
             (the run's prediction at its last epoch; cleanlab: the arg-max of the out-of-fold
             probabilities).

Two references go with every (scenario, seed): ``none`` keeps every sample with its given label,
``oracle`` uses the truth (``drop``: exactly the truly clean samples, the ceiling of filtering;
``relabel``: every sample with its true label, the ceiling of relabelling).

Detector names (config ``downstream.detectors``): ``<method>.<signal>.<bmm|gmm>`` for a signal of
a training run with the Beta- or Gaussian-mixture decision (``also-min.weight.bmm``,
``adamw.loss.gmm``), ``cleanlab_network`` / ``cleanlab_pixels`` for cleanlab's
``find_label_issues`` on cross-validated probabilities, and the references ``none``, ``oracle``.

The file a user takes to their own training code, ``cleaned_labels.csv``, has the columns
:data:`COLUMNS`, one row per training sample in index order.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from alsofilter.config.sections import CROSSVAL_DETECTORS, MODES
from alsofilter.io import write_text_atomic
from alsofilter.detectors.metrics import DECISION_THRESHOLD
from alsofilter.names import REFERENCE_LABELS, crossval_label, detector_label

DECISIONS = ("bmm", "gmm")
REFERENCES = ("none", "oracle")
COLUMNS = ("index", "file_name", "given_label", "flagged", "noise_probability", "predicted_label",
           "decision", "train_label")


@dataclass(frozen=True)
class Detector:
    """One detector whose decision can clean a training set.

    ``kind``: ``reference`` (``none``/``oracle``), ``run`` (a signal of a training run with a
    mixture decision) or ``crossval`` (cleanlab). ``name`` is the config name and the folder name.
    """

    name: str
    kind: str
    method: str | None = None
    signal: str | None = None
    decision: str | None = None

    @property
    def label(self) -> str:
        """How tables and figures call it (the leaderboard's names)."""
        if self.kind == "reference":
            return REFERENCE_LABELS[self.name]
        if self.kind == "crossval":
            return crossval_label(self.name)
        return detector_label(self.method, self.signal, self.decision)


def parse_detector(name: str) -> Detector:
    """The :class:`Detector` called ``name``; a clear error for anything else."""
    if not isinstance(name, str):
        raise ValueError(f"a downstream detector is a name, got {name!r}")
    if name in REFERENCES:
        return Detector(name, "reference")
    if name in CROSSVAL_DETECTORS:
        return Detector(name, "crossval")
    parts = name.split(".")
    if len(parts) != 3 or parts[2] not in DECISIONS or not all(parts):
        raise ValueError(f"unknown downstream detector {name!r}: use <method>.<signal>.<bmm|gmm> "
                         f"(e.g. also-min.weight.bmm), one of {list(CROSSVAL_DETECTORS)} or {list(REFERENCES)}")
    return Detector(name, "run", *parts)


def cleaned_labels(given, flagged, predicted, noise_probability, mode: str,
                   file_names: Sequence[str] | None = None) -> pd.DataFrame:
    """The cleaned-labels table of one decision.

    given, predicted : (N,) int labels; flagged : (N,) bool; noise_probability : (N,) float in
    [0, 1]. ``mode`` ``drop`` or ``relabel``. Columns :data:`COLUMNS`: ``decision`` is ``keep``
    for unflagged samples and ``mode``'s verb for flagged ones; ``train_label`` the label to train
    with (-1 for dropped samples)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    given = np.asarray(given, dtype=np.int64)
    flagged = np.asarray(flagged, dtype=bool)
    predicted = np.asarray(predicted, dtype=np.int64)
    probability = np.asarray(noise_probability, dtype=np.float64)
    n = given.shape[0]
    for what, values in (("flagged", flagged), ("predicted", predicted), ("noise_probability", probability)):
        if values.shape != (n,):
            raise ValueError(f"{what} has shape {values.shape}, expected ({n},) like the given labels")
    files = [""] * n if file_names is None else list(file_names)
    if len(files) != n:
        raise ValueError(f"{len(files)} file names for {n} training samples")
    if mode == "drop":
        train_label = np.where(flagged, -1, given)
    else:
        train_label = np.where(flagged, predicted, given)
    return pd.DataFrame({
        "index": np.arange(n),
        "file_name": files,
        "given_label": given,
        "flagged": flagged,
        "noise_probability": np.round(probability, 6),
        "predicted_label": predicted,
        "decision": np.where(flagged, mode, "keep"),
        "train_label": train_label,
    })


def training_set(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """What to train on: ``(index, labels)`` of the samples not dropped, index sorted (M,),
    labels (N,) for every sample (the dropped ones -1)."""
    missing = [c for c in ("index", "decision", "train_label") if c not in table.columns]
    if missing:
        raise ValueError(f"a cleaned-labels table needs the columns {missing}")
    kept = table["decision"].to_numpy() != "drop"
    index = table["index"].to_numpy(dtype=np.int64)
    if not np.array_equal(index, np.arange(len(table))):
        raise ValueError("a cleaned-labels table must list every training sample once, in index order")
    return index[kept], table["train_label"].to_numpy(dtype=np.int64)


def read_cleaned_labels(path) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a cleaned-labels file: it lacks the columns {missing}")
    return table


# ------------------------------------------------------------------------- decisions
def run_decision(signals: Mapping[str, np.ndarray], mixture: Mapping[str, np.ndarray], signal: str,
                 decision: str) -> dict[str, np.ndarray]:
    """A training run's decision at its last epoch: ``flagged`` = the mixture's noise posterior
    > 0.5 (BMM: ``<signal>/posterior``, GMM: ``<signal>/gmm_posterior`` of the run's mixture file),
    ``predicted`` = the run's prediction at the last epoch, ``noise_probability`` = that posterior."""
    key = f"{signal}/posterior" if decision == "bmm" else f"{signal}/gmm_posterior"
    if key not in mixture:
        raise ValueError(f"the run's mixture file has no {key!r} (signal {signal!r} not fitted; has "
                         f"{sorted({k.split('/')[0] for k in mixture})})")
    posterior = np.asarray(mixture[key], dtype=np.float64)[-1]
    return {"flagged": posterior > DECISION_THRESHOLD, "noise_probability": posterior,
            "predicted": np.asarray(signals["pred"], dtype=np.int64)[-1]}


def crossval_decision(detection: Mapping[str, np.ndarray], given) -> dict[str, np.ndarray]:
    """cleanlab's decision (``find_label_issues``), its model's prediction (arg-max of the
    out-of-fold probabilities) and 1 − the out-of-fold probability of the given label."""
    proba = np.asarray(detection["proba"], dtype=np.float64)
    given = np.asarray(given, dtype=np.int64)
    return {"flagged": np.asarray(detection["flagged"], dtype=bool),
            "predicted": proba.argmax(1),
            "noise_probability": 1.0 - proba[np.arange(len(given)), given]}


def reference_decision(name: str, given, true) -> dict[str, np.ndarray]:
    """``none``: nothing flagged. ``oracle``: exactly the mislabeled samples, predicted = truth."""
    given, true = np.asarray(given, dtype=np.int64), np.asarray(true, dtype=np.int64)
    if name == "none":
        return {"flagged": np.zeros(len(given), dtype=bool), "predicted": given.copy(),
                "noise_probability": np.zeros(len(given))}
    if name == "oracle":
        noisy = given != true
        return {"flagged": noisy, "predicted": true.copy(), "noise_probability": noisy.astype(float)}
    raise ValueError(f"unknown reference {name!r}; choose one of {list(REFERENCES)}")


def detector_decision(detector: Detector, noise_table: pd.DataFrame, run_files: Mapping | None = None,
                      crossval_file=None) -> dict[str, np.ndarray]:
    """The decision of ``detector`` on one (scenario, seed). ``run_files``: method → (signals.npz,
    mixture.npz); ``crossval_file``: the detector's detection.npz."""
    given = noise_table["noisy_label"].to_numpy()
    if detector.kind == "reference":
        return reference_decision(detector.name, given, noise_table["true_label"].to_numpy())
    if detector.kind == "crossval":
        if crossval_file is None:
            raise ValueError(f"detector {detector.name} needs its cross-validation detection file")
        with np.load(crossval_file) as f:
            return crossval_decision(dict(f), given)
    if not run_files or detector.method not in run_files:
        raise ValueError(f"detector {detector.name} needs the {detector.method} run of this scenario")
    signals_npz, mixture_npz = run_files[detector.method]
    with np.load(signals_npz) as s, np.load(mixture_npz) as m:
        signals, mixture = dict(s), dict(m)
    if not np.array_equal(signals["noisy_label"], given):
        raise ValueError(f"{signals_npz} was trained on other labels than the noise file")
    return run_decision(signals, mixture, detector.signal, detector.decision)


