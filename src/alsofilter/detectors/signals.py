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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from alsofilter.names import SIGNAL_INPUTS


@dataclass(frozen=True)
class Signal:
    name: str
    requires: tuple[str, ...]
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    description: str


SIGNALS: dict[str, Signal] = {}


def register(name: str, requires: tuple[str, ...], description: str = ""):
    """Decorator: register ``fn(record) -> (E, N) score`` as signal ``name``."""
    def wrap(fn):
        if name in SIGNALS:
            raise ValueError(f"signal {name!r} is already registered")
        if SIGNAL_INPUTS.get(name) != tuple(requires):
            raise ValueError(f"signal {name!r} requiring {tuple(requires)} is not listed so in "
                             f"alsofilter.names.SIGNAL_INPUTS ({SIGNAL_INPUTS.get(name)}); add or correct it there")
        SIGNALS[name] = Signal(name, tuple(requires), fn, description or (fn.__doc__ or "").strip())
        return fn
    return wrap


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
