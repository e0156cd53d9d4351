"""Gaussian-mixture decision on a suspicion score, as DivideMix does (Li et al. 2020).

An alternative to the Beta mixture (:mod:`alsofilter.detectors.bmm`) for turning a score into a noise
probability, so that the BMM's own contribution to a detector can be measured on the same
scores. DivideMix's recipe: min-max normalise the per-sample loss to [0, 1], fit scikit-learn's
``GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4)``, and call the
component with the **lower** mean clean; the noise probability is the posterior of the other one.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

GMM_SETTINGS = dict(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4)


def gmm_noise_posterior(scores, random_state: int = 0) -> tuple[np.ndarray, bool]:
    """Noise probability per sample from a 2-component GMM on min-max normalised scores.

    scores : (N,) suspicion scores, higher = more suspicious (e.g. per-sample loss in nats).
    Returns ``(posterior (N,) float64 in [0, 1], ok)``; a constant score cannot be split and gives
    ``(zeros, False)``. Deterministic for a given ``random_state``.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be finite and non-empty ({scores.size} values, "
                         f"{int((~np.isfinite(scores)).sum())} non-finite)")
    lo, hi = scores.min(), scores.max()
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros_like(scores), False
    x = ((scores - lo) / (hi - lo))[:, None]
    gmm = GaussianMixture(random_state=random_state, **GMM_SETTINGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # max_iter=10 is the recipe
        gmm.fit(x)
    noisy = int(np.argmax(gmm.means_.ravel()))
    return gmm.predict_proba(x)[:, noisy], True


def gmm_per_epoch(scores) -> dict[str, np.ndarray]:
    """:func:`gmm_noise_posterior` on every row of ``scores`` (E, N): ``posterior`` (E, N) and
    ``ok`` (E,) bool."""
    scores = np.asarray(scores, dtype=np.float64)
    fits = [gmm_noise_posterior(row) for row in scores]
    return {"posterior": np.stack([p for p, _ in fits]), "ok": np.array([ok for _, ok in fits])}
