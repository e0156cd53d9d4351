"""Detector signals: per-sample suspicion scores computed from a training run's record.

A *signal* turns what a training run recorded (arrays of shape ``(E, N)``: epochs × samples) into
a suspicion score of the same shape, **higher = more likely mislabeled**. Every later stage
(Beta mixture, ROC-AUC, tables, figures) works on that score, so adding a detector means writing
one function here, decorated with :func:`register`, listing its name and the arrays it
``requires`` in :data:`alsofilter.names.SIGNAL_INPUTS` (where the config's checks read the names
from), and naming it in ``config.yaml``'s ``signals`` list. A signal applies to every run that
recorded the arrays it ``requires``.

Built-in signals
----------------
``loss``       the per-sample cross-entropy of the epoch (AdamW + BMM baseline; SPEC §3).
``weight``     the ALSO weight π, as ``−N·π`` (small weight = suspicious; uniform weights give
               −1). Linear in π: on the demo the Beta mixture separates the groups far better
               on π than on ``log π`` (decision F1 0.73 vs 0.40 at symmetric 0.4), whose long noisy
               tail is clipped by the 95th-percentile normalisation. ROC-AUC equals that of −π.
``loss_mean``  the per-sample loss averaged over all epochs so far.
``aum``        area under the margin (Pleiss et al. 2020): minus the margin (logit of the given
               label − largest other logit, raw logits of the training pass) averaged over all
               epochs so far. Pleiss et al. rank by AUM with a threshold from planted
               "threshold samples"; here the ranking is scored, and the decision is the BMM's.
``forgetting`` forgetting events (Toneva et al. 2019): per sample, the number of epochs so far at
               which its prediction went from the given label to another (correct → incorrect on
               the given label, from the recorded training-pass ``pred``). A sample never
               predicted as its label so far has infinitely many in Toneva's convention; here it
               gets ``⌊e/2⌋ + 1`` at epoch e, one above the most a learned sample can have, so it
               ranks as the most suspicious.
``confidence`` data maps (Swayamdipta et al. 2020): minus the mean over the epochs so far of the
               probability the network gives the label, ``p = exp(−loss)``: the recorded loss is
               the plain cross-entropy of that pass, so this is p exactly (not recorded again).
               Low confidence = suspicious (their "hard-to-learn" region holds the mislabeled).
``variability`` data maps: the standard deviation (ddof 0, as theirs) over the epochs so far of
               that probability, **high = suspicious**: a label the network first rejects and
               later memorises swings. Data maps call high variability "ambiguous" and put
               mislabeled samples at low confidence with low variability where the network never
               memorises them, so this orientation suits runs that memorise (AdamW); a ROC-AUC
               below 0.5 says the other orientation would rank better.
``knn``        label disagreement of the k nearest neighbours in the network's penultimate
               features (SimiFeat-style, Zhu et al. 2022; :mod:`alsofilter.detectors.knn`): the
               share of its k = :data:`KNN_NEIGHBOURS` nearest other samples (cosine) whose given
               label differs. The features are saved once per run, at its last epoch
               (``features`` (N, D) in signals.npz), so the score has one row, the epoch
               ``features_epoch``; :func:`signal_epochs` gives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from alsofilter.detectors.knn import knn_disagreement
from alsofilter.names import SIGNAL_INPUTS


@dataclass(frozen=True)
class Signal:
    name: str
    requires: tuple[str, ...]
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    description: str
    #: the 1-based epochs of the score's rows from a record; None: every recorded epoch
    epochs: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None


SIGNALS: dict[str, Signal] = {}


def register(name: str, requires: tuple[str, ...], description: str = "", epochs=None):
    """Decorator: register ``fn(record) -> (E, N) score`` as signal ``name``; ``epochs(record)``
    names the epochs of the rows when they are not all the recorded ones (``knn``: one row)."""
    def wrap(fn):
        if name in SIGNALS:
            raise ValueError(f"signal {name!r} is already registered")
        if SIGNAL_INPUTS.get(name) != tuple(requires):
            raise ValueError(f"signal {name!r} requiring {tuple(requires)} is not listed so in "
                             f"alsofilter.names.SIGNAL_INPUTS ({SIGNAL_INPUTS.get(name)}); add or correct it there")
        SIGNALS[name] = Signal(name, tuple(requires), fn, description or (fn.__doc__ or "").strip(), epochs)
        return fn
    return wrap


def signal_epochs(name: str, record: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    """The 1-based epoch of each of the ``rows`` rows of signal ``name``'s score on ``record``."""
    signal = SIGNALS[name]
    if signal.epochs is None:
        return np.arange(1, rows + 1)
    epochs = np.asarray(signal.epochs(record), dtype=np.int64).reshape(-1)
    if epochs.shape[0] != rows:
        raise ValueError(f"signal {name!r}: {rows} score rows but epochs {epochs.tolist()}")
    return epochs


def available_signals(record: Mapping[str, np.ndarray], names) -> list[str]:
    """The names (in the given order) whose required arrays are all in ``record``."""
    unknown = [n for n in names if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signal(s) {unknown}; known: {sorted(SIGNALS)}")
    keys = set(record.keys()) if hasattr(record, "keys") else set(record.files)
    return [n for n in names if all(r in keys for r in SIGNALS[n].requires)]


def suspicion_score(name: str, record: Mapping[str, np.ndarray]) -> np.ndarray:
    """Score ``(E, N)`` float64 of signal ``name`` on a run record (higher = more suspicious)."""
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {name!r}; known: {sorted(SIGNALS)}")
    signal = SIGNALS[name]
    missing = [r for r in signal.requires if r not in record]
    if missing:
        raise KeyError(f"signal {name!r} needs {missing}, which this run did not record")
    return np.asarray(signal.compute(record), dtype=np.float64)


@register("loss", requires=("loss",), description="per-sample cross-entropy of the epoch")
def loss_signal(record):
    return record["loss"]


@register("weight", requires=("weight",), description="ALSO weight as -N*pi")
def weight_signal(record):
    pi = np.asarray(record["weight"], dtype=np.float64)
    return -pi * pi.shape[-1]


def running_mean(values) -> np.ndarray:
    """Mean over the epochs so far: row e of the result averages rows 0..e of ``values`` (E, N)."""
    values = np.asarray(values, dtype=np.float64)
    return np.cumsum(values, axis=0) / np.arange(1, values.shape[0] + 1)[:, None]


@register("loss_mean", requires=("loss",), description="per-sample loss averaged over epochs so far")
def loss_mean_signal(record):
    return running_mean(record["loss"])


@register("aum", requires=("margin",), description="area under the margin, negated (Pleiss et al. 2020)")
def aum_signal(record):
    return -running_mean(record["margin"])


def correct_on_label(record) -> np.ndarray:
    """(E, N) bool: the recorded prediction equals the given (noisy) label."""
    return np.asarray(record["pred"]) == np.asarray(record["noisy_label"])[None, :]


@register("forgetting", requires=("pred", "noisy_label"),
          description="forgetting events so far, never learned highest (Toneva et al. 2019)")
def forgetting_signal(record):
    correct = correct_on_label(record)
    epochs = correct.shape[0]
    events = np.zeros(correct.shape, dtype=np.float64)
    if epochs > 1:
        events[1:] = np.cumsum(correct[:-1] & ~correct[1:], axis=0)
    learned = np.logical_or.accumulate(correct, axis=0)
    never = (np.arange(1, epochs + 1) // 2 + 1).astype(np.float64)[:, None]
    return np.where(learned, events, never)


def label_probability(record) -> np.ndarray:
    """(E, N) probability of the given label, ``exp(−loss)`` (the loss is its cross-entropy)."""
    return np.exp(-np.asarray(record["loss"], dtype=np.float64))


@register("confidence", requires=("loss",),
          description="minus the mean probability of the label so far (data maps, Swayamdipta et al. 2020)")
def confidence_signal(record):
    return -running_mean(label_probability(record))


@register("variability", requires=("loss",),
          description="std of the probability of the label so far (data maps, Swayamdipta et al. 2020)")
def variability_signal(record):
    p = label_probability(record)
    mean = running_mean(p)
    second = running_mean(p * p)
    return np.sqrt(np.clip(second - mean * mean, 0.0, None))


#: neighbours of the knn signal (SimiFeat's k)
KNN_NEIGHBOURS = 10


@register("knn", requires=("features", "noisy_label"),
          description="share of the k nearest neighbours (cosine, penultimate features) with another label",
          epochs=lambda record: [int(record["features_epoch"])] if "features_epoch" in record
          else [int(np.asarray(record["loss"]).shape[0])])
def knn_signal(record):
    return knn_disagreement(record["features"], record["noisy_label"], KNN_NEIGHBOURS)[None, :]
