"""Tests for the two-component Beta mixture model (SPEC §4)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from alsofilter.detectors.bmm import (
    BetaMixture,
    DegenerateSignalError,
    apply_normalisation,
    fit_per_epoch,
    percentile_normalise,
)

TRUE_ALPHA = np.array([2.0, 8.0])
TRUE_BETA = np.array([8.0, 2.0])
TRUE_WEIGHT = np.array([0.6, 0.4])


def _planted(n=20000, seed=0):
    """Sample the planted mixture; returns (x, is_noisy)."""
    rng = np.random.default_rng(seed)
    noisy = rng.random(n) < TRUE_WEIGHT[1]
    x = np.where(noisy, rng.beta(TRUE_ALPHA[1], TRUE_BETA[1], n),
                 rng.beta(TRUE_ALPHA[0], TRUE_BETA[0], n))
    return np.clip(x, 1e-6, 1 - 1e-6), noisy


@pytest.fixture(scope="module")
def planted():
    x, noisy = _planted()
    bmm = BetaMixture(n_iter=200).fit(x)
    return x, noisy, bmm


# ------------------------------------------------------------------ recovery
def test_recovers_planted_parameters(planted):
    _, _, bmm = planted
    k = bmm.noisy_component_
    order = [1 - k, k]
    for got, want, name in [(bmm.alpha_[order], TRUE_ALPHA, "alpha"),
                            (bmm.beta_[order], TRUE_BETA, "beta"),
                            (bmm.weight_[order], TRUE_WEIGHT, "weight")]:
        rel = np.abs(got - want) / want
        assert np.all(rel < 0.10), f"{name}: got {got}, want {want}"
    assert bmm.alpha_.shape == bmm.beta_.shape == bmm.weight_.shape == (2,)
    np.testing.assert_allclose(bmm.weight_.sum(), 1.0)


def test_noisy_component_is_high_mean(planted):
    _, _, bmm = planted
    k = bmm.noisy_component_
    assert bmm.means_[k] > bmm.means_[1 - k]
    np.testing.assert_allclose(bmm.means_, bmm.alpha_ / (bmm.alpha_ + bmm.beta_))
    assert bmm.means_[k] == pytest.approx(0.8, abs=0.02)


def test_default_init_is_the_spec_one():
    bmm = BetaMixture()
    assert tuple(bmm.alpha_init) == (1.0, 2.0)
    assert tuple(bmm.beta_init) == (2.0, 1.0)
    assert tuple(bmm.weight_init) == (0.5, 0.5)
    assert bmm.n_iter == 10


def test_posteriors_separate(planted):
    x, noisy, bmm = planted
    post = bmm.noise_posterior(x)
    assert post.shape == x.shape
    assert np.all((post >= 0) & (post <= 1))
    assert roc_auc_score(noisy, post) > 0.95
    # the 0.5 threshold is a sensible decision on this well-separated mixture
    acc = np.mean((post > 0.5) == noisy)
    assert acc > 0.95


def test_short_em_also_separates():
    x, noisy = _planted(n=5000, seed=1)
    bmm = BetaMixture().fit(x)  # the SPEC's ~10 iterations
    assert roc_auc_score(noisy, bmm.noise_posterior(x)) > 0.95


def test_predict_proba_and_component_pdf(planted):
    x, _, bmm = planted
    grid = np.linspace(0.01, 0.99, 99)
    r = bmm.predict_proba(grid)
    assert r.shape == (99, 2)
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    assert np.all(r >= bmm.floor * 0.999)
    pdf = bmm.component_pdf(grid)
    assert pdf.shape == (99, 2)
    assert np.all(np.isfinite(pdf)) and np.all(pdf >= 0)
    # responsibilities are the normalised weighted densities (away from the floor)
    ratio = pdf / pdf.sum(axis=1, keepdims=True)
    inner = (ratio > 1e-6).all(axis=1)
    np.testing.assert_allclose(r[inner], ratio[inner], rtol=1e-6)
    # mixture density integrates to about 1 over (0, 1)
    fine = np.linspace(1e-4, 1 - 1e-4, 20001)
    total = np.trapezoid(bmm.component_pdf(fine).sum(axis=1), fine)
    assert total == pytest.approx(1.0, abs=0.01)


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaMixture().noise_posterior([0.5])


# ------------------------------------------------------------------ monotone
@pytest.fixture(scope="module")
def non_monotone_models():
    """A fitted model whose raw noise posterior rises then falls beyond the mode.

    Noisy component Beta(6, 6) (mean 0.5), clean component Beta(1.5, 3) (mean
    1/3, wider): the clean component has the heavier right tail, so without the
    monotone fix the noisy posterior drops again for large x.
    """
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.beta(1.5, 3.0, 4000), rng.beta(6.0, 6.0, 4000)])
    x = np.clip(x, 1e-4, 1 - 1e-4)
    raw = BetaMixture(n_iter=100, monotone=False).fit(x)
    mono = BetaMixture(n_iter=100, monotone=True).fit(x)
    return raw, mono


def test_monotone_beyond_noisy_mode(non_monotone_models):
    raw, mono = non_monotone_models
    grid = np.linspace(0.001, 0.999, 2001)
    p_raw = raw.noise_posterior(grid)
    p_mono = mono.noise_posterior(grid)
    m = mono.noise_mode()
    beyond = grid >= m
    # the test is only meaningful if the raw posterior really decreases somewhere
    assert np.any(np.diff(p_raw[beyond]) < -1e-3), "fixture is not non-monotone"
    assert np.all(np.diff(p_mono[beyond]) >= 0)
    # it is the running maximum of the raw posterior from the mode on
    np.testing.assert_allclose(p_mono[beyond], np.maximum.accumulate(p_raw[beyond]),
                               atol=1e-3)
    # below the mode nothing changes
    np.testing.assert_array_equal(p_mono[~beyond], p_raw[~beyond])
    assert np.all(p_mono >= p_raw)


def test_monotone_on_random_unsorted_points_and_batch_independent(non_monotone_models):
    _, mono = non_monotone_models
    rng = np.random.default_rng(4)
    pts = rng.uniform(0.001, 0.999, 3000)
    p = mono.noise_posterior(pts)
    m = mono.noise_mode()
    order = np.argsort(pts)
    sel = order[pts[order] >= m]
    assert np.all(np.diff(p[sel]) >= 0)
    # one sample at a time gives the same value as the batch
    single = np.array([mono.noise_posterior(pts[i:i + 1])[0] for i in range(0, 3000, 300)])
    np.testing.assert_allclose(single, p[::300])


def test_noise_mode_is_interior_mode(planted):
    _, _, bmm = planted
    k = bmm.noisy_component_
    a, b = bmm.alpha_[k], bmm.beta_[k]
    assert bmm.noise_mode() == pytest.approx((a - 1) / (a + b - 2))


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("values", [np.full(100, 3.7), np.r_[np.zeros(99), 1.0]])
def test_constant_signal_percentile_normalise_raises(values):
    with pytest.raises(DegenerateSignalError, match="constant"):
        percentile_normalise(values)


def test_constant_input_fit_raises():
    with pytest.raises(DegenerateSignalError, match="equal"):
        BetaMixture().fit(np.full(50, 0.4))
    assert issubclass(DegenerateSignalError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(bad):
    v = np.linspace(0.1, 0.9, 10)
    v[[2, 5]] = bad
    with pytest.raises(ValueError, match=r"2 non-finite"):
        percentile_normalise(v)
    with pytest.raises(ValueError, match=r"non-finite"):
        BetaMixture().fit(v)


def test_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        percentile_normalise([])
    with pytest.raises(ValueError, match="empty"):
        BetaMixture().fit([])


@pytest.mark.parametrize("x", [np.array([0.0, 0.5, 0.7]), np.array([0.2, 0.5, 1.0]),
                               np.array([-0.3, 0.5, 1.7])])
def test_fit_outside_unit_interval_raises(x):
    with pytest.raises(ValueError, match="min=") as ei:
        BetaMixture().fit(x)
    assert not isinstance(ei.value, DegenerateSignalError)
    assert f"{x.min():.6g}" in str(ei.value) and f"{x.max():.6g}" in str(ei.value)


def test_percentile_normalise_map_and_clipping():
    rng = np.random.default_rng(5)
    v = rng.normal(3.0, 2.0, 1000)
    x, lo, hi = percentile_normalise(v)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(v, [5, 95])))
    assert x.shape == v.shape
    assert x.min() == pytest.approx(1e-3) and x.max() == pytest.approx(1 - 1e-3)
    inside = (v > lo) & (v < hi)
    np.testing.assert_allclose(x[inside], np.clip((v[inside] - lo) / (hi - lo), 1e-3, 1 - 1e-3))
    # about 5% clipped on each side, none dropped
    assert np.mean(x == 1e-3) == pytest.approx(0.05, abs=0.01)
    assert np.mean(x == 1 - 1e-3) == pytest.approx(0.05, abs=0.01)
    np.testing.assert_array_equal(apply_normalisation(v, lo, hi), x)
    # order preserved (monotone map)
    assert np.all(np.diff(x[np.argsort(v)]) >= 0)


@pytest.mark.parametrize("x", [
    np.r_[np.full(500, 0.1), np.full(300, 0.9)],            # two distinct values
    np.r_[np.full(990, 1e-3), np.full(10, 1 - 1e-3)],       # extreme imbalance at the clip
    np.r_[np.full(997, 0.3), 0.31, 0.32, 0.99],             # heavy ties
    np.r_[np.full(5, 0.2), np.full(5, 0.2 + 1e-9)],         # nearly constant
])
def test_posterior_never_nan_on_edge_data(x):
    bmm = BetaMixture(n_iter=50).fit(x)
    for arr in (bmm.alpha_, bmm.beta_, bmm.weight_):
        assert np.all(np.isfinite(arr)) and np.all(arr > 0)
    grid = np.r_[np.linspace(1e-3, 1 - 1e-3, 201), x]
    p = bmm.noise_posterior(grid)
    assert not np.any(np.isnan(p))
    assert np.all((p >= 0) & (p <= 1))
    assert not np.any(np.isnan(bmm.predict_proba(grid)))


def test_two_values_are_split():
    x = np.r_[np.full(500, 0.1), np.full(300, 0.9)]
    bmm = BetaMixture(n_iter=50).fit(x)
    p = bmm.noise_posterior(np.array([0.1, 0.9]))
    assert p[0] < 0.01 and p[1] > 0.99
    np.testing.assert_allclose(np.sort(bmm.weight_), [0.375, 0.625], atol=1e-3)


# ------------------------------------------------------------------ per epoch
def test_fit_per_epoch_shapes_order_and_degenerate_row():
    rng = np.random.default_rng(6)
    E, N = 4, 3000
    noisy = rng.random(N) < 0.3
    rows = []
    for e in range(E):
        sep = 1.0 + e  # separation grows with the epoch
        rows.append(rng.normal(0.0, 1.0, N) + sep * noisy)
    scores = np.stack(rows)
    scores[2] = 5.0  # a constant epoch
    out = fit_per_epoch(scores)
    assert set(out) == {"posterior", "alpha", "beta", "weight", "lo", "hi", "ok"}
    assert out["posterior"].shape == (E, N) and out["posterior"].dtype == np.float32
    for k in ("alpha", "beta", "weight"):
        assert out[k].shape == (E, 2)
    assert out["lo"].shape == out["hi"].shape == (E,)
    assert out["ok"].dtype == bool
    np.testing.assert_array_equal(out["ok"], [True, True, False, True])

    good = out["ok"]
    mean = out["alpha"] / (out["alpha"] + out["beta"])
    assert np.all(mean[good, 1] > mean[good, 0])
    np.testing.assert_allclose(out["weight"][good].sum(axis=1), 1.0)
    assert not np.any(np.isnan(out["posterior"]))
    for e in np.flatnonzero(good):
        assert roc_auc_score(noisy, out["posterior"][e]) > 0.7
        np.testing.assert_allclose([out["lo"][e], out["hi"][e]],
                                   np.percentile(scores[e], [5, 95]))
    # the degenerate row: nothing flagged, NaN parameters
    assert np.all(out["posterior"][2] == 0.0)
    for k in ("alpha", "beta", "weight"):
        assert np.all(np.isnan(out[k][2]))

    # per-row result equals a direct fit
    x, _, _ = percentile_normalise(scores[3])
    direct = BetaMixture().fit(x)
    np.testing.assert_allclose(out["posterior"][3], direct.noise_posterior(x), atol=1e-6)
    np.testing.assert_allclose(out["alpha"][3, 1], direct.alpha_[direct.noisy_component_])


def test_fit_per_epoch_nan_row_names_epoch():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(3, 200))
    scores[1, [3, 4, 5]] = np.nan
    with pytest.raises(ValueError, match=r"epoch 2\b.*3 non-finite"):
        fit_per_epoch(scores)


def test_fit_per_epoch_rejects_1d():
    with pytest.raises(ValueError, match="2-D"):
        fit_per_epoch(np.arange(10.0))


def test_single_component_data_gives_finite_posteriors():
    """Data from one Beta only: the fit stays finite and the posterior is a probability."""
    x = np.random.default_rng(7).beta(2.0, 5.0, 5000)
    bmm = BetaMixture().fit(np.clip(x, 1e-3, 1 - 1e-3))
    p = bmm.noise_posterior(x.clip(1e-3, 1 - 1e-3))
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(bmm.alpha_)) and np.all(np.isfinite(bmm.beta_))
