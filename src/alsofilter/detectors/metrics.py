"""Separation and decision metrics of a detector, per epoch (scikit-learn), and what a network's
predictions make of the mislabeled samples (the training history's memorization fractions)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

#: a decision flags a sample when its noise posterior exceeds this (BMM, GMM; cleaned labels too)
DECISION_THRESHOLD = 0.5
METRIC_COLUMNS = ("auc", "ap", "precision", "recall", "f1", "noise_rate_est", "noise_rate_true",
                  "precision_at_noise_rate", "precision_at_estimate")


def precision_at_count(is_noisy: np.ndarray, score: np.ndarray, count: int) -> float:
    """Fraction of truly mislabeled samples among the ``count`` most suspicious (highest score;
    ties broken by index). With ``count`` = the number of mislabeled samples this is also the
    recall there, 1 − the false-negative rate when as many samples are flagged as are wrong — the
    fixed-count protocol of label-error benchmarks. NaN for ``count`` 0."""
    count = int(count)
    if count <= 0:
        return np.nan
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    return float(np.asarray(is_noisy, dtype=bool)[order[:count]].mean())


def detection_metrics(is_noisy: np.ndarray, score: np.ndarray, posterior: np.ndarray,
                      threshold: float = DECISION_THRESHOLD) -> dict[str, float]:
    """Metrics of one epoch.

    is_noisy : (N,) bool ground truth.  score : (N,) suspicion score (higher = noisy), for
    ROC-AUC and average precision.  posterior : (N,) BMM noise probability; the decision flags
    ``posterior > threshold``, giving precision, recall, F1 and the estimated noise rate.
    ``precision_at_noise_rate`` / ``precision_at_estimate``: :func:`precision_at_count` with as
    many samples as are truly mislabeled / as the decision flags (the detector's own estimate).
    AUC/AP are NaN when the ground truth has a single class (no noisy or no clean samples).
    """
    is_noisy = np.asarray(is_noisy, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    if not np.all(np.isfinite(score)):
        raise ValueError(f"score has {int((~np.isfinite(score)).sum())} non-finite values")
    flagged = np.asarray(posterior) > threshold
    both = 0 < is_noisy.sum() < is_noisy.size
    precision, recall, f1 = decision_scores(is_noisy, flagged)
    return {
        "auc": roc_auc_score(is_noisy, score) if both else np.nan,
        "ap": average_precision_score(is_noisy, score) if both else np.nan,
        "precision": float(precision), "recall": float(recall), "f1": float(f1),
        "noise_rate_est": float(flagged.mean()),
        "noise_rate_true": float(is_noisy.mean()),
        "precision_at_noise_rate": precision_at_count(is_noisy, score, is_noisy.sum()),
        "precision_at_estimate": precision_at_count(is_noisy, score, flagged.sum()),
    }


def decision_scores(is_noisy: np.ndarray, flagged: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of the decision ``flagged`` (N,) bool against ``is_noisy`` (N,)
    bool, 0 where undefined: what scikit-learn's ``precision_recall_fscore_support(average=
    "binary", zero_division=0)`` returns (tested against it), without its per-call input checks
    (20 ms a call, 5 s of a metrics job's 6)."""
    is_noisy, flagged = np.asarray(is_noisy, dtype=bool), np.asarray(flagged, dtype=bool)
    tp = float(np.count_nonzero(is_noisy & flagged))
    n_flagged, n_noisy = float(np.count_nonzero(flagged)), float(np.count_nonzero(is_noisy))
    precision = tp / n_flagged if n_flagged else 0.0
    recall = tp / n_noisy if n_noisy else 0.0
    f1 = 2 * tp / (n_flagged + n_noisy) if n_flagged + n_noisy else 0.0
    return precision, recall, f1


def metrics_per_epoch(is_noisy: np.ndarray, scores: np.ndarray, posteriors: np.ndarray,
                      fit_ok: np.ndarray | None = None, signal: str = "", epochs=None) -> pd.DataFrame:
    """One row per epoch: ``signal, epoch (1-based)``, :data:`METRIC_COLUMNS`, ``fit_ok``.
    scores, posteriors: (E, N); ``epochs`` (E,): the rows' epoch numbers (default 1..E)."""
    rows = []
    epochs = np.arange(1, scores.shape[0] + 1) if epochs is None else np.asarray(epochs)
    for e in range(scores.shape[0]):
        row = {"signal": signal, "epoch": int(epochs[e])}
        row.update(detection_metrics(is_noisy, scores[e], posteriors[e]))
        row["fit_ok"] = bool(fit_ok[e]) if fit_ok is not None else True
        rows.append(row)
    return pd.DataFrame(rows)


def memorization_fractions(pred: np.ndarray, true_label: np.ndarray, noisy_label: np.ndarray) -> dict[str, float]:
    """SPEC §7 fig. 1: among mislabeled samples, the fraction predicted as the true class
    (``correct``), as the given noisy label (``memorized``) or neither (``incorrect``).
    All three are NaN when no sample is mislabeled."""
    noisy = true_label != noisy_label
    if not noisy.any():
        return {"mem_correct": np.nan, "mem_memorized": np.nan, "mem_incorrect": np.nan}
    p, t, y = pred[noisy], true_label[noisy], noisy_label[noisy]
    correct = float(np.mean(p == t))
    memorized = float(np.mean(p == y))
    return {"mem_correct": correct, "mem_memorized": memorized,
            "mem_incorrect": 1.0 - correct - memorized}
