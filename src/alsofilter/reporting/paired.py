"""How sure a comparison is: paired differences between detectors with 95 % intervals, and verdicts.

Two detectors are always compared on the *same* noise files and seeds, so each seed gives one
paired difference Δ_s (detector A's metric minus B's). Its uncertainty has two sources:

* the finite sample: with one run fixed, another draw of N training samples would give another
  Δ_s. Estimated per seed by a **paired bootstrap over samples** (the same resampled indices for
  every detector of the seed, :func:`bootstrap_metrics`): variance w_s;
* the seed: another noise draw and another training run give another Δ_s. Estimated by the
  spread of the Δ_s over the S seeds: sample variance b (S ≥ 2).

The between-seed variance b estimates training *plus* sampling variance (each seed has its own
noise draw and run), so adding w to it would count the sample twice: with S ≥ 2 seeds the interval
(:func:`combine_seeds`) is Student's t on S − 1 degrees of freedom with b / S — exact for normal
Δ_s, and wide with 2–3 seeds, as it should be. With 2–3 seeds b may by chance fall below the
sampling variance that each seed certainly has; then the mean bootstrap variance w / S, which is
estimated precisely, is used with the normal quantile instead (a floor). With one seed only the
bootstrap part is known: the normal interval then covers the sample, not the run, and the tables
say so (``seeds`` = 1). Coverage is
checked on synthetic scores with a known difference (``tests/test_paired.py``).

A verdict reads the interval: ``ahead`` (it lies above 0), ``behind`` (below 0), ``within noise``.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: the metrics a paired comparison of two detectors covers
PAIRED_METRICS = ("auc", "ap", "f1", "precision_at_noise_rate")
VERDICTS = ("ahead", "behind", "within noise")
LEVEL = 0.95
DEFAULT_BOOTSTRAP = 500


def resample_indices(n: int, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """(n_boot, n) int: bootstrap resamples of n samples, shared by every detector of a seed."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _ranked(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's labels in the order of its scores, highest first (one sort serves every metric)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(labels, order, axis=1)


def _auc_rows(hits: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ranked labels: the fraction of (mislabeled, clean) pairs in which the
    mislabeled sample is ranked first (ties between scores are broken by position, which is exact
    for continuous scores); NaN without both classes."""
    pos = hits.sum(axis=1)
    neg = hits.shape[1] - pos
    clean_below = neg[:, None] - np.cumsum(~hits, axis=1)      # clean samples ranked after each position
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (clean_below * hits).sum(axis=1) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def _ap_rows(hits: np.ndarray) -> np.ndarray:
    """Average precision of each row: mean over the positives of the precision at their rank."""
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    pos = hits.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pos > 0, (precision * hits).sum(axis=1) / pos, np.nan)


def _f1_rows(labels: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    tp = (labels & flagged).sum(axis=1)
    denominator = labels.sum(axis=1) + flagged.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, 0.0)


def _precision_at_k_rows(hits: np.ndarray, k: np.ndarray) -> np.ndarray:
    top = np.arange(hits.shape[1])[None, :] < k[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, (hits & top).sum(axis=1) / k, np.nan)


def bootstrap_size(n: int, budget: int = 5_000_000) -> int:
    """Resamples for N samples: :data:`DEFAULT_BOOTSTRAP`, fewer for large N (at most ``budget``
    sample draws a detector; at least 100, plenty where the sampling variance is small)."""
    return int(max(100, min(DEFAULT_BOOTSTRAP, budget // max(1, n))))


def bootstrap_metrics(is_noisy: np.ndarray, score: np.ndarray, flagged: np.ndarray,
                      indices: np.ndarray) -> dict[str, np.ndarray]:
    """Each of :data:`PAIRED_METRICS` of one detector on each bootstrap resample.

    is_noisy, flagged : (N,) bool; score : (N,) float (higher = more suspicious); indices :
    (B, N) from :func:`resample_indices`. Returns metric → (B,) values. ``precision_at_noise_rate``
    flags as many samples as the resample has mislabeled ones (precision = recall there)."""
    labels = np.asarray(is_noisy, dtype=bool)[indices]
    hits = _ranked(labels, np.asarray(score, dtype=np.float64)[indices])
    flags = np.asarray(flagged, dtype=bool)[indices]
    return {"auc": _auc_rows(hits), "ap": _ap_rows(hits), "f1": _f1_rows(labels, flags),
            "precision_at_noise_rate": _precision_at_k_rows(hits, labels.sum(axis=1))}


def bootstrap_f1(is_noisy: np.ndarray, flagged: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(B,) F1 of one decision on each bootstrap resample (:func:`bootstrap_metrics`' ``f1``
    without ranking the scores: a second decision on the same score costs no sort)."""
    return _f1_rows(np.asarray(is_noisy, dtype=bool)[indices], np.asarray(flagged, dtype=bool)[indices])


def combine_seeds(deltas: Sequence[float], within_variances: Sequence[float],
                  level: float = LEVEL) -> tuple[float, float, float]:
    """Mean paired difference over seeds and its ``level`` interval (see the module docstring).

    deltas : (S,) the per-seed differences; within_variances : (S,) their bootstrap variances
    (NaN where unknown). Returns ``(mean, low, high)``; NaN where nothing is known."""
    deltas = np.asarray(deltas, dtype=np.float64)
    within = np.asarray(within_variances, dtype=np.float64)
    keep = np.isfinite(deltas)
    deltas, within = deltas[keep], within[keep]
    s = deltas.size
    if s == 0:
        return np.nan, np.nan, np.nan
    mean = float(deltas.mean())
    w = float(np.nanmean(within)) if np.isfinite(within).any() else np.nan
    if s == 1:
        if not np.isfinite(w):
            return mean, np.nan, np.nan
        half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(w)
    else:
        b = float(deltas.var(ddof=1))
        if np.isfinite(w) and w >= b:   # the seeds agree more closely than the sample allows: the
            half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(w / s)   # (precise) bootstrap variance
        else:                           # the spread over seeds, with its few degrees of freedom
            half = stats.t.ppf(0.5 + level / 2, df=s - 1) * np.sqrt(b / s)
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    """``ahead`` when the interval lies above 0, ``behind`` below, else ``within noise``."""
    if np.isfinite(low) and low > 0:
        return "ahead"
    if np.isfinite(high) and high < 0:
        return "behind"
    return "within noise"


def paired_comparisons(samples: Mapping[tuple, Mapping[str, Mapping[str, np.ndarray]]],
                       points: pd.DataFrame, keys: Sequence[str], references: Mapping[tuple, Mapping[str, str]],
                       metrics: Iterable[str] = PAIRED_METRICS, level: float = LEVEL) -> pd.DataFrame:
    """Every detector against each reference detector of its scenario.

    samples : (scenario, seed) → detector → metric → (B,) bootstrap values (same resamples for
    every detector of that key); points : one row per (scenario keys, seed, detector) with each
    metric's value on the full sample; keys : the scenario columns; references : scenario →
    {role: detector}, e.g. {"ours": ..., "best": ...}. Returns one row per (scenario, detector,
    role, metric): ``reference``, ``delta`` (mean over seeds of detector − reference), ``low``,
    ``high``, ``seeds``, ``verdict``."""
    rows = []
    for scenario, group in points.groupby(list(keys), sort=False):
        scenario = scenario if isinstance(scenario, tuple) else (scenario,)
        for role, reference in references.get(scenario, {}).items():
            ref = group[group["detector"] == reference].set_index("seed")
            for detector, rows_d in group.groupby("detector", sort=False):
                det = rows_d.set_index("seed")
                seeds = [s for s in det.index if s in ref.index]
                for metric in metrics:
                    deltas, within = [], []
                    for seed in seeds:
                        deltas.append(det.loc[seed, metric] - ref.loc[seed, metric])
                        boot = samples.get((*scenario, seed), {})
                        if detector in boot and reference in boot:
                            diff = boot[detector][metric] - boot[reference][metric]
                            within.append(np.nanvar(diff, ddof=1) if np.isfinite(diff).sum() > 1 else np.nan)
                        else:
                            within.append(np.nan)
                    mean, low, high = combine_seeds(deltas, within, level)
                    if detector == reference:
                        low = high = 0.0
                    rows.append({**dict(zip(keys, scenario)), "detector": detector, "role": role,
                                 "reference": reference, "metric": metric, "delta": mean, "low": low,
                                 "high": high, "seeds": len(seeds),
                                 "verdict": "reference" if detector == reference else verdict(low, high)})
    return pd.DataFrame(rows)
