"""Two-component Beta mixture model fitted by EM (SPEC §4; Arazo et al. 2019).

The BMM turns a per-sample *suspicion score* into a per-sample probability of
being mislabeled.

Conventions
-----------
* **Scores: higher = more suspicious.** For AdamW the score is the per-sample
  cross-entropy (units: nats). ALSO weights are turned into scores *upstream*
  (not in this module, see :mod:`alsofilter.detectors.signals`) as ``-N * pi``: a
  down-weighted (suspicious) sample scores higher. The authors do not state
  their mapping of ALSO weights (SPEC §4 suggests ``log(N*pi)``); the linear
  map fits far better on the demo, and the sign flip makes every signal share
  one convention.
* **Normalisation** (:func:`percentile_normalise`): the 5th..95th percentile
  range of the scores is min-max scaled to [0, 1] and the result clipped to
  ``[1e-3, 1 - 1e-3]``. Values outside the range are clipped, never dropped.
* **Noisy component** = the component with the larger mean
  ``alpha / (alpha + beta)`` (i.e. higher normalised score).
* The noise posterior is made monotone (non-decreasing) beyond the noisy
  component's mode, as Arazo et al. do, so that a *more* suspicious sample never
  gets a *lower* noise probability than a less suspicious one in that region.

EM (SPEC §4)
------------
Init ``alpha = [1, 2]``, ``beta = [2, 1]``, weights ``[0.5, 0.5]``; about 10
iterations. E-step: responsibilities from the weighted Beta densities (computed
in log space with :data:`scipy.stats.beta`), floored at ``1e-12`` and
renormalised. M-step: weighted method of moments per component
(``alpha = m (m(1-m)/v - 1)``, ``beta = alpha (1-m)/m``), with the weighted
variance ``v`` clamped into ``(1e-8, m(1-m)(1-1e-6))`` so the parameters stay
finite and positive; mixing weights = mean responsibilities.

Everything inside one fit is vectorised over samples; :func:`fit_per_epoch`
loops over epochs (rows).
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import expit

__all__ = [
    "DegenerateSignalError",
    "percentile_normalise",
    "apply_normalisation",
    "BetaMixture",
    "fit_per_epoch",
]

#: lower bound of the clamped weighted variance in the M-step
_VAR_FLOOR = 1e-8
#: upper bound of the clamped variance, as a fraction of m(1-m)
_VAR_CEIL_FRAC = 1.0 - 1e-6


class DegenerateSignalError(ValueError):
    """The data cannot support a two-component fit.

    Raised for a constant (or nearly constant) signal, i.e. when the percentile
    range collapses or all values passed to :meth:`BetaMixture.fit` are equal,
    and when EM ends with non-finite parameters.
    """


# --------------------------------------------------------------------------- #
# normalisation
# --------------------------------------------------------------------------- #
def _as_1d_finite(values, name: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or +/-inf) "
            f"out of {x.size}"
        )
    return x


def _check_clip(clip: float) -> None:
    if not (0.0 < clip < 0.5):
        raise ValueError(f"clip must lie in (0, 0.5), got {clip}")


def percentile_normalise(values, lower: float = 5.0, upper: float = 95.0,
                         clip: float = 1e-3) -> tuple[np.ndarray, float, float]:
    """Map suspicion scores to (0, 1) by percentile min-max scaling (SPEC §4).

    Parameters
    ----------
    values : array_like, shape (n,)
        Suspicion scores, higher = more suspicious, any real units.
    lower, upper : float
        Percentiles (0..100) defining the range mapped to [0, 1].
    clip : float
        Results are clipped to ``[clip, 1 - clip]``; values outside the
        percentile range are clipped, not dropped.

    Returns
    -------
    x : np.ndarray, shape (n,), float64
        Normalised scores in ``[clip, 1 - clip]``.
    lo, hi : float
        The ``lower`` and ``upper`` percentiles of ``values`` (score units);
        ``x = clip((values - lo) / (hi - lo), clip, 1 - clip)``.

    Raises
    ------
    ValueError
        Empty input, non-1-D input, or non-finite values (the message gives
        their count).
    DegenerateSignalError
        If ``hi <= lo``: the signal is constant or nearly constant.
    """
    x = _as_1d_finite(values)
    if not (0.0 <= lower < upper <= 100.0):
        raise ValueError(f"need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
    _check_clip(clip)
    lo, hi = np.percentile(x, [lower, upper])
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise DegenerateSignalError(
            f"constant or nearly constant signal: the {lower:g}th and {upper:g}th "
            f"percentiles are both {lo:.6g}, so there is no range to normalise "
            f"(a two-component mixture cannot be fitted)"
        )
    return apply_normalisation(x, lo, hi, clip=clip), lo, hi


def apply_normalisation(values, lo: float, hi: float, clip: float = 1e-3) -> np.ndarray:
    """Apply the percentile normalisation with given bounds.

    Parameters
    ----------
    values : array_like, shape (n,)
        Suspicion scores in the same units as ``lo`` and ``hi``.
    lo, hi : float
        Bounds from :func:`percentile_normalise`, ``hi > lo``.
    clip : float
        Results are clipped to ``[clip, 1 - clip]``.

    Returns
    -------
    np.ndarray, shape (n,), float64
        ``clip((values - lo) / (hi - lo), clip, 1 - clip)``.
    """
    x = _as_1d_finite(values)
    _check_clip(clip)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"normalisation bounds must be finite, got lo={lo}, hi={hi}")
    if not hi > lo:
        raise DegenerateSignalError(f"normalisation bounds need hi > lo, got lo={lo}, hi={hi}")
    return np.clip((x - lo) / (hi - lo), clip, 1.0 - clip)


# --------------------------------------------------------------------------- #
# Beta mixture
# --------------------------------------------------------------------------- #
def _pair(value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be two finite positive numbers, got {value!r}")
    return arr


class BetaMixture:
    """Two-component Beta mixture fitted by EM with weighted method of moments.

    Parameters
    ----------
    n_iter : int
        Number of EM iterations (SPEC: about 10).
    alpha_init, beta_init : pair of float
        Initial Beta shape parameters of the two components.
    weight_init : pair of float
        Initial mixing weights (renormalised to sum to 1).
    floor : float
        Responsibilities are floored at this value and renormalised.
    monotone : bool
        If True, :meth:`noise_posterior` is made non-decreasing beyond the noisy
        component's mode (Arazo et al.).

    Attributes
    ----------
    alpha_, beta_ : np.ndarray, shape (2,)
        Fitted Beta shape parameters (finite, > 0).
    weight_ : np.ndarray, shape (2,)
        Fitted mixing weights (sum to 1).
    means_ : np.ndarray, shape (2,)
        Component means ``alpha / (alpha + beta)``.
    noisy_component_ : int
        Index of the component with the larger mean (higher score = noisy).
    n_iter_ : int
        Number of EM iterations run.
    """

    def __init__(self, n_iter: int = 10, alpha_init=(1.0, 2.0), beta_init=(2.0, 1.0),
                 weight_init=(0.5, 0.5), floor: float = 1e-12, monotone: bool = True):
        self.n_iter = n_iter
        self.alpha_init = alpha_init
        self.beta_init = beta_init
        self.weight_init = weight_init
        self.floor = floor
        self.monotone = monotone

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _validate_x(x) -> np.ndarray:
        x = _as_1d_finite(x, name="x")
        xmin, xmax = float(x.min()), float(x.max())
        if xmin <= 0.0 or xmax >= 1.0:
            raise ValueError(
                "BetaMixture needs values strictly inside (0, 1) (normalise first, e.g. with "
                f"percentile_normalise); got min={xmin:.6g}, max={xmax:.6g}"
            )
        return x

    def _check_fitted(self) -> None:
        if not hasattr(self, "alpha_"):
            raise RuntimeError("BetaMixture is not fitted yet: call fit(x) first")

    @staticmethod
    def _log_weighted_pdf(x, alpha, beta, weight) -> np.ndarray:
        """log(weight_k * Beta(x; alpha_k, beta_k)), shape (n, 2)."""
        with np.errstate(divide="ignore"):
            logw = np.log(weight)
        return stats.beta.logpdf(x[:, None], alpha[None, :], beta[None, :]) + logw[None, :]

    def _responsibilities(self, x, alpha, beta, weight) -> np.ndarray:
        """Posterior component probabilities, floored and renormalised, shape (n, 2)."""
        logp = self._log_weighted_pdf(x, alpha, beta, weight)
        # guard extreme parameters: NaN -> -inf, +inf -> a huge finite value
        logp = np.where(np.isnan(logp), -np.inf, logp)
        logp = np.minimum(logp, 1e300)
        # rows where both densities are -inf: fall back to an even 0.5 / 0.5 split
        allbad = ~np.isfinite(logp).any(axis=1)
        if allbad.any():
            logp[allbad] = 0.0
        # two components: r_1 = sigmoid(log p_1 - log p_0), exact and overflow-free
        d = logp[:, 1] - logp[:, 0]
        r = np.stack([expit(-d), expit(d)], axis=1)
        r = np.maximum(r, self.floor)
        r /= r.sum(axis=1, keepdims=True)
        return r

    @staticmethod
    def _moments_to_params(m, v):
        """Weighted method of moments with the variance clamp, elementwise."""
        mm = m * (1.0 - m)
        v_lo = np.minimum(_VAR_FLOOR, 0.5 * mm)
        v = np.clip(v, v_lo, mm * _VAR_CEIL_FRAC)
        alpha = m * (mm / v - 1.0)
        beta = alpha * (1.0 - m) / m
        return alpha, beta

    # -------------------------------------------------------------------- fit
    def fit(self, x) -> "BetaMixture":
        """Fit the mixture by EM.

        Parameters
        ----------
        x : array_like, shape (n,)
            Values strictly inside (0, 1), e.g. from :func:`percentile_normalise`.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Non-finite values, or values outside (0, 1) (the message names min/max).
        DegenerateSignalError
            All values equal, or non-finite parameters after EM.
        """
        x = self._validate_x(x)
        if x.size < 2 or np.all(x == x[0]):
            raise DegenerateSignalError(
                f"all {x.size} value(s) are equal ({x[0]:.6g}): a two-component Beta "
                "mixture cannot be fitted to a constant signal"
            )
        if int(self.n_iter) < 0:
            raise ValueError(f"n_iter must be >= 0, got {self.n_iter}")
        if not (0.0 < self.floor < 0.5):
            raise ValueError(f"floor must lie in (0, 0.5), got {self.floor}")
        alpha = _pair(self.alpha_init, "alpha_init")
        beta = _pair(self.beta_init, "beta_init")
        weight = _pair(self.weight_init, "weight_init")
        weight = weight / weight.sum()

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(int(self.n_iter)):
                r = self._responsibilities(x, alpha, beta, weight)        # (n, 2)
                rsum = r.sum(axis=0)                                      # (2,)
                m = (r * x[:, None]).sum(axis=0) / rsum
                v = (r * (x[:, None] - m[None, :]) ** 2).sum(axis=0) / rsum
                alpha, beta = self._moments_to_params(m, v)
                weight = rsum / rsum.sum()
                if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta))
                        and np.all(np.isfinite(weight))):
                    break

        params = np.concatenate([alpha, beta, weight])
        if not np.all(np.isfinite(params)) or np.any(alpha <= 0) or np.any(beta <= 0):
            raise DegenerateSignalError(
                f"EM ended with invalid parameters (alpha={alpha}, beta={beta}, "
                f"weight={weight}); the data cannot support a two-component fit"
            )
        self.alpha_ = alpha
        self.beta_ = beta
        self.weight_ = weight
        self.means_ = alpha / (alpha + beta)
        self.noisy_component_ = int(np.argmax(self.means_))
        self.n_iter_ = int(self.n_iter)
        return self

    # -------------------------------------------------------------- predict
    def predict_proba(self, x) -> np.ndarray:
        """Component responsibilities.

        Parameters
        ----------
        x : array_like, shape (n,)
            Values strictly inside (0, 1).

        Returns
        -------
        np.ndarray, shape (n, 2)
            Posterior probability of each component, floored at ``floor`` and
            renormalised (rows sum to 1).
        """
        self._check_fitted()
        x = self._validate_x(x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._responsibilities(x, self.alpha_, self.beta_, self.weight_)

    def noise_mode(self) -> float:
        """Anchor of the monotone region: the noisy component's mode.

        The mode ``(a-1)/(a+b-2)`` is used when it is interior (``a > 1`` and
        ``b > 1``); otherwise (mode at 0 or 1, or bimodal/uniform) the
        component mean is used instead.

        Returns
        -------
        float
            A point in (0, 1) on the normalised score scale.
        """
        self._check_fitted()
        k = self.noisy_component_
        a, b = float(self.alpha_[k]), float(self.beta_[k])
        if a > 1.0 and b > 1.0:
            return (a - 1.0) / (a + b - 2.0)
        return a / (a + b)

    def _raw_noise_posterior(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = self._responsibilities(x, self.alpha_, self.beta_, self.weight_)
        return r[:, self.noisy_component_]

    def noise_posterior(self, x) -> np.ndarray:
        """Per-sample probability of belonging to the noisy component.

        Parameters
        ----------
        x : array_like, shape (n,)
            Normalised scores strictly inside (0, 1).

        Returns
        -------
        np.ndarray, shape (n,), float64
            Noise posterior in [0, 1], never NaN. With ``monotone=True`` it is
            non-decreasing in ``x`` for ``x >= mode`` (see :meth:`noise_mode`):
            there, the value is the running maximum of the raw posterior over
            ``[mode, x]``.

        Notes
        -----
        The log-odds of two Beta components is
        ``(a1-a0) log x + (b1-b0) log(1-x) + c``, whose derivative has at most
        one root ``x* = (a1-a0) / ((a1-a0) + (b1-b0))`` in (0, 1). So the
        running maximum over ``[m, x]`` is exactly
        ``max(p(m), p(x), p(x*) if m <= x* <= x)``. This is computed in closed
        form, so the result for one sample does not depend on the other
        samples passed in (unlike a running maximum over a sorted batch).
        """
        self._check_fitted()
        x = self._validate_x(x)
        p = self._raw_noise_posterior(x)
        if self.monotone:
            m = self.noise_mode()
            k = self.noisy_component_
            da = self.alpha_[k] - self.alpha_[1 - k]
            db = self.beta_[k] - self.beta_[1 - k]
            pm = self._raw_noise_posterior(np.array([m]))[0]
            run = np.maximum(p, pm)
            denom = da + db
            if denom != 0.0:
                xs = da / denom
                if m < xs < 1.0:
                    ps = self._raw_noise_posterior(np.array([xs]))[0]
                    run = np.where(x >= xs, np.maximum(run, ps), run)
            p = np.where(x >= m, run, p)
        p = np.nan_to_num(p, nan=0.0)
        return np.clip(p, 0.0, 1.0)

    def component_pdf(self, x) -> np.ndarray:
        """Weighted component densities, for plotting.

        Parameters
        ----------
        x : array_like, shape (n,)
            Points strictly inside (0, 1).

        Returns
        -------
        np.ndarray, shape (n, 2)
            ``weight_k * BetaPDF(x; alpha_k, beta_k)`` (density on the normalised
            scale); their row sum is the mixture density.
        """
        self._check_fitted()
        x = self._validate_x(x)
        with np.errstate(over="ignore", divide="ignore"):
            return np.exp(self._log_weighted_pdf(x, self.alpha_, self.beta_, self.weight_))

    def __repr__(self) -> str:
        if hasattr(self, "alpha_"):
            return (f"BetaMixture(alpha={np.round(self.alpha_, 4).tolist()}, "
                    f"beta={np.round(self.beta_, 4).tolist()}, "
                    f"weight={np.round(self.weight_, 4).tolist()}, "
                    f"noisy={self.noisy_component_})")
        return f"BetaMixture(n_iter={self.n_iter}, monotone={self.monotone})"


# --------------------------------------------------------------------------- #
# batched convenience
# --------------------------------------------------------------------------- #
def fit_per_epoch(scores, n_iter: int = 10, lower: float = 5.0, upper: float = 95.0,
                  clip: float = 1e-3) -> dict[str, np.ndarray]:
    """Fit one BMM per epoch and return the per-sample noise posteriors.

    Parameters
    ----------
    scores : array_like, shape (E, N)
        Suspicion scores (higher = more suspicious), one row per epoch.
    n_iter : int
        EM iterations per fit.
    lower, upper, clip : float
        Passed to :func:`percentile_normalise`.

    Returns
    -------
    dict
        ``posterior`` : float32 (E, N), noise posterior per sample and epoch;
        ``alpha``, ``beta``, ``weight`` : float64 (E, 2), component order
        ``[clean, noisy]`` (index 1 is the noisy, higher-mean component);
        ``lo``, ``hi`` : float64 (E,), the percentile bounds in score units
        (always the raw percentiles, also for degenerate rows);
        ``ok`` : bool (E,), False where the row was degenerate.

        A degenerate row (:class:`DegenerateSignalError`, e.g. a constant
        signal) gets posterior 0.0 everywhere (nothing flagged), NaN
        ``alpha``/``beta``/``weight`` and ``ok=False``.

    Raises
    ------
    ValueError
        If ``scores`` is not 2-D, or a row holds non-finite values (the message
        names the epoch, 1-based, and the count).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (epochs, samples), got shape {s.shape}")
    E, N = s.shape
    if N == 0:
        raise ValueError("scores has no samples (N = 0)")
    bad = (~np.isfinite(s)).sum(axis=1)
    for e in np.flatnonzero(bad):
        raise ValueError(
            f"scores of epoch {e + 1} (1-based) contain {int(bad[e])} non-finite "
            f"value(s) (NaN or +/-inf) out of {N}"
        )

    out = {
        "posterior": np.zeros((E, N), dtype=np.float32),
        "alpha": np.full((E, 2), np.nan),
        "beta": np.full((E, 2), np.nan),
        "weight": np.full((E, 2), np.nan),
        "lo": np.full(E, np.nan),
        "hi": np.full(E, np.nan),
        "ok": np.zeros(E, dtype=bool),
    }
    if E:
        pct = np.percentile(s, [lower, upper], axis=1)
        out["lo"][:], out["hi"][:] = pct[0], pct[1]
    for e in range(E):
        try:
            x, _, _ = percentile_normalise(s[e], lower=lower, upper=upper, clip=clip)
            bmm = BetaMixture(n_iter=n_iter).fit(x)
        except DegenerateSignalError:
            continue
        order = [1 - bmm.noisy_component_, bmm.noisy_component_]
        out["posterior"][e] = bmm.noise_posterior(x).astype(np.float32)
        out["alpha"][e] = bmm.alpha_[order]
        out["beta"][e] = bmm.beta_[order]
        out["weight"][e] = bmm.weight_[order]
        out["ok"][e] = True
    return out
