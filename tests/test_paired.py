"""Paired comparisons (issue 18): the interval's coverage on synthetic scores with a known
difference, the verdict rules, the bootstrap metrics against scikit-learn, fixed-count precision."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from alsofilter.reporting.paired import (bootstrap_metrics, combine_seeds, paired_comparisons, resample_indices,
                                         verdict)


def _draw(rng, n, rate, shift):
    noisy = rng.random(n) < rate
    return noisy, rng.normal(0, 1, n) + shift * noisy


def _coverage(seeds, sd_seed, draws, rng, n=300, rate=0.3, mu=(1.2, 1.0), n_boot=200):
    # AUC of N(mu + tau, 1) vs N(0, 1) is Phi((mu + tau)/sqrt 2); over tau ~ N(0, sd): Phi(mu / sqrt(2 + sd^2))
    truth = stats.norm.cdf(mu[0] / np.sqrt(2 + sd_seed ** 2)) - stats.norm.cdf(mu[1] / np.sqrt(2 + sd_seed ** 2))
    hits = 0
    for d in range(draws):
        deltas, within = [], []
        for s in range(seeds):
            noisy = rng.random(n) < rate
            base = rng.normal(0, 1, (2, n))
            score_a = base[0] + (mu[0] + rng.normal(0, sd_seed)) * noisy
            score_b = base[1] + (mu[1] + rng.normal(0, sd_seed)) * noisy
            idx = resample_indices(n, n_boot, seed=d * 100 + s)
            boot_a = bootstrap_metrics(noisy, score_a, score_a > 1, idx)["auc"]
            boot_b = bootstrap_metrics(noisy, score_b, score_b > 1, idx)["auc"]
            deltas.append(roc_auc_score(noisy, score_a) - roc_auc_score(noisy, score_b))
            within.append(np.var(boot_a - boot_b, ddof=1))
        _, low, high = combine_seeds(deltas, within)
        hits += low <= truth <= high
    return hits / draws


@pytest.mark.parametrize("seeds, sd_seed", [(1, 0.0), (3, 0.0), (3, 0.3)])
def test_interval_covers_a_known_difference_about_95_percent(seeds, sd_seed):
    coverage = _coverage(seeds, sd_seed, draws=300, rng=np.random.default_rng(seeds * 10 + int(10 * sd_seed)))
    # 300 draws: a 95 % interval covers 285 ± 8 of them; max(b, w) with t(S-1) may only err wide
    assert 0.91 <= coverage <= 0.995, coverage


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(0)
    tight = _coverage(3, 0.0, 1, rng)
    mean, low, high = combine_seeds([0.05, 0.06, 0.04], [1e-6] * 3)
    assert low > 0 and verdict(low, high) == "ahead"
    mean, low, high = combine_seeds([0.05, -0.04, 0.02], [1e-6] * 3)   # seeds disagree: t(2) on their spread
    assert low < 0 < high and verdict(low, high) == "within noise"
    assert tight in (0.0, 1.0)


def test_verdict_rules():
    assert verdict(0.01, 0.2) == "ahead"
    assert verdict(-0.2, -0.01) == "behind"
    assert verdict(-0.01, 0.2) == "within noise" and verdict(np.nan, np.nan) == "within noise"
    assert combine_seeds([0.1], [np.nan]) [1:] == pytest.approx((np.nan, np.nan), nan_ok=True)
    mean, low, high = combine_seeds([0.1], [0.0004])          # one seed: the sample's normal interval
    assert (low, high) == pytest.approx((0.1 - 1.959964 * 0.02, 0.1 + 1.959964 * 0.02), abs=1e-6)
    mean, low, high = combine_seeds([0.1, 0.2], [0.0, 0.0])   # two seeds: t(1) = 12.706 on their spread
    assert (high - low) / 2 == pytest.approx(12.7062 * np.std([0.1, 0.2], ddof=1) / np.sqrt(2), rel=1e-4)


def test_bootstrap_metrics_agree_with_scikit_learn_on_the_identity_resample():
    rng = np.random.default_rng(3)
    noisy, score = _draw(rng, 500, 0.25, 1.0)
    flagged = score > 0.8
    identity = np.arange(500)[None, :]
    values = bootstrap_metrics(noisy, score, flagged, identity)
    assert values["auc"][0] == pytest.approx(roc_auc_score(noisy, score), abs=1e-12)
    assert values["ap"][0] == pytest.approx(average_precision_score(noisy, score), abs=1e-9)
    assert values["f1"][0] == pytest.approx(f1_score(noisy, flagged), abs=1e-12)


def test_precision_at_the_noise_rate_by_hand():
    # 3 mislabeled of 8; the top 3 scores are samples 0 (noisy), 5 (clean), 2 (noisy): 2 of 3
    noisy = np.array([1, 0, 1, 0, 0, 0, 0, 1], bool)
    score = np.array([0.9, 0.1, 0.7, 0.2, 0.3, 0.8, 0.0, 0.4])
    values = bootstrap_metrics(noisy, score, score > 0.5, np.arange(8)[None, :])
    assert values["precision_at_noise_rate"][0] == pytest.approx(2 / 3)


def test_paired_comparisons_table():
    rng = np.random.default_rng(5)
    samples, rows = {}, []
    for seed in (1, 2, 3):
        noisy, base = _draw(rng, 400, 0.3, 0.0)
        scores = {"good": base + 1.5 * noisy, "bad": base + 0.2 * noisy}
        idx = resample_indices(400, 200, seed)
        samples[("d", 0.4, seed)] = {}
        for name, s in scores.items():
            samples[("d", 0.4, seed)][name] = bootstrap_metrics(noisy, s, s > 1, idx)
            full = bootstrap_metrics(noisy, s, s > 1, np.arange(400)[None, :])
            rows.append({"dataset": "d", "rate": 0.4, "seed": seed, "detector": name,
                         **{k: float(v[0]) for k, v in full.items()}})
    table = paired_comparisons(samples, pd.DataFrame(rows), ["dataset", "rate"], {("d", 0.4): {"ours": "good"}})
    auc = table[table["metric"] == "auc"].set_index("detector")
    assert auc.loc["good", "verdict"] == "reference" and auc.loc["good", "delta"] == 0
    assert auc.loc["bad", "verdict"] == "behind" and auc.loc["bad", "high"] < 0 and auc.loc["bad", "seeds"] == 3


def test_leaderboard_sentences_from_a_hand_made_table():
    from alsofilter.names import OURS, OURS_SCORE
    from alsofilter.reporting.leaderboard import summary_sentences

    rows = pd.DataFrame([
        {"detector": "X", "auc_mean": 0.91, "seeds": 3, "verdict_vs_ours": "ahead", "verdict_vs_best": "reference",
         "auc_vs_best": 0.0, "auc_vs_best_low": 0.0, "auc_vs_best_high": 0.0},
        {"detector": OURS_SCORE, "auc_mean": 0.88, "seeds": 3, "verdict_vs_ours": "reference", "verdict_vs_best": "behind",
         "auc_vs_best": -0.03, "auc_vs_best_low": -0.05, "auc_vs_best_high": -0.01,
         "f1_bmm_mean": 0.8, "noise_rate_est_bmm_mean": 0.41, "f1_gmm_mean": 0.75, "noise_rate_est_gmm_mean": 0.45},
        {"detector": "Y", "auc_mean": 0.87, "seeds": 3, "verdict_vs_ours": "within noise",
         "verdict_vs_best": "behind", "auc_vs_best": -0.04, "auc_vs_best_low": -0.07, "auc_vs_best_high": -0.01},
        {"detector": "Z", "auc_mean": 0.60, "seeds": 3, "verdict_vs_ours": "behind",
         "verdict_vs_best": "behind", "auc_vs_best": -0.31, "auc_vs_best_low": -0.4, "auc_vs_best_high": -0.2}])
    assert summary_sentences(rows) == [
        "Best by ROC-AUC: X (0.910).",
        f"{OURS_SCORE} (the paper's method) is behind it beyond noise: ROC-AUC -0.030 [-0.050, -0.010].",
        f"Ahead of {OURS_SCORE} beyond noise: X.",
        f"Behind {OURS_SCORE} beyond noise: Z.",
        f"Within noise of {OURS_SCORE}: 1 score.",
        f"Decisions on {OURS_SCORE}: BMM F1 0.800, estimated noise rate 0.410; GMM F1 0.750, estimated noise "
        f"rate 0.450 (the paper's: {OURS})."]


def test_leaderboard_pairs_scores_and_each_decision_with_the_same_decision_of_the_reference():
    from alsofilter.names import OURS_SCORE
    from alsofilter.reporting.leaderboard import aggregate, paired_against_references, with_verdicts

    rng = np.random.default_rng(7)
    scen = {"dataset": "d", "arch": "resnet18", "noise": "symmetric", "rate": 0.4}
    samples, rows = {}, []
    for seed in (1, 2):
        noisy, base = _draw(rng, 300, 0.3, 0.0)
        scores = {OURS_SCORE: base + 1.5 * noisy, "cleanlab, network 2-fold CV": base + 0.2 * noisy}
        samples[(*scen.values(), seed)] = {
            OURS_SCORE: (noisy, scores[OURS_SCORE], {"BMM": scores[OURS_SCORE] > 1, "GMM": scores[OURS_SCORE] > 0.5}),
            "cleanlab, network 2-fold CV": (noisy, scores["cleanlab, network 2-fold CV"],
                                            {"cleanlab": scores["cleanlab, network 2-fold CV"] > 1})}
        for name, method, decisions in ((OURS_SCORE, "also-min", ("BMM", "GMM")),
                                        ("cleanlab, network 2-fold CV", "crossval", ("cleanlab",))):
            for decision in decisions:
                rows.append({**scen, "seed": seed, "detector": f"{name} + {decision}" if method != "crossval" else name,
                             "method": method, "signal": "s", "decision": decision,
                             "auc": roc_auc_score(noisy, scores[name]), "ap": 0.5, "precision": 0.5, "recall": 0.5,
                             "f1": 0.5, "noise_rate_est": 0.3, "training_jobs": 1, "training_seconds": 1.0})
    table = aggregate(pd.DataFrame(rows))
    paired = paired_against_references(table, samples, n_boot=200)
    ours = paired[(paired["role"] == "ours")].set_index(["detector", "metric"])
    # the score's metrics for both; F1 per decision only where both sides have that decision
    assert set(ours.index) == {(OURS_SCORE, m) for m in ("auc", "ap", "precision_at_noise_rate", "f1_bmm", "f1_gmm")} | {
        ("cleanlab, network 2-fold CV", m) for m in ("auc", "ap", "precision_at_noise_rate")}
    assert ours.loc[("cleanlab, network 2-fold CV", "auc"), "verdict"] == "behind"
    assert ours.loc[(OURS_SCORE, "f1_gmm"), "verdict"] == "reference"
    board = with_verdicts(table, paired)
    assert board["verdict_vs_ours"].tolist() == ["reference", "behind"]
    assert board["verdict_vs_best"].tolist() == ["reference", "behind"]


def test_paper_comparison_carries_a_verdict():
    from alsofilter.reporting.paper import comparison_table

    base = {"dataset": "cifar10", "arch": "resnet18", "noise": "symmetric", "rate": 0.8, "method": "also-min",
            "signal": "weight", "auc_best": 0.9, "epoch_best": 50, "epochs": 100}
    close = pd.DataFrame([{**base, "seed": s, "auc_final": v} for s, v in ((1, 0.50), (2, 0.52), (3, 0.51))])
    row = comparison_table(close).query("statistic == 'final'").iloc[0]
    assert row["verdict"] == "below the paper" and row["difference_high"] < 0
    one = comparison_table(close[close["seed"] == 1]).query("statistic == 'final'").iloc[0]
    assert one["verdict"] == "one seed" and np.isnan(one["difference_low"])


def test_early_stopping_rule_uses_training_data_only():
    from alsofilter.detectors.early_stopping import stop_epoch

    # the mixture believes 40 % are wrong; the network fits 60 % of the given labels at epoch 3
    assert stop_epoch([0.3, 0.5, 0.6, 0.8, 0.95], [0.4, 0.4, 0.4, 0.4, 0.4]) == 3
    assert stop_epoch([0.3, 0.4], [0.2, 0.2]) == 2          # never reached: the last epoch
    with pytest.raises(ValueError, match="equal length"):
        stop_epoch([0.3, 0.4], [0.2])
