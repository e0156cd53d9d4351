"""Detectors beyond the paper's: area under the margin, the GMM decision, cleanlab on
cross-validated probabilities, and the leaderboard that puts them side by side."""
import numpy as np
import pandas as pd
import pytest
import torch

from alsofilter.detectors.confident_learning import (cleanlab_detection, fold_indices, out_of_fold_probabilities,
                                 pixel_probabilities, write_fold_predictions)
from alsofilter.detectors.gmm import gmm_noise_posterior, gmm_per_epoch
from alsofilter.names import OURS, OURS_SCORE
from alsofilter.reporting.leaderboard import aggregate, markdown
from alsofilter.detectors.signals import suspicion_score
from alsofilter.training.trainer import label_margin


def test_label_margin_by_hand():
    logits = torch.tensor([[2.0, 1.0, -1.0],     # label 0: 2 - 1 = 1
                           [2.0, 1.0, -1.0],     # label 1: 1 - 2 = -1
                           [0.5, 0.5, 3.0]])     # label 2: 3 - 0.5 = 2.5
    labels = torch.tensor([0, 1, 2])
    assert label_margin(logits, labels).tolist() == [1.0, -1.0, 2.5]


def test_aum_is_the_negated_running_mean_of_the_margin():
    margin = np.array([[1.0, -2.0], [3.0, 0.0], [-1.0, 1.0]])          # (E=3, N=2)
    aum = suspicion_score("aum", {"margin": margin})
    expected = -np.array([[1.0, -2.0], [2.0, -1.0], [1.0, -1 / 3]])
    np.testing.assert_allclose(aum, expected)


def test_gmm_decision_on_a_known_split():
    rng = np.random.default_rng(0)
    clean = rng.normal(0.3, 0.1, 800).clip(0)        # low loss
    noisy = rng.normal(2.5, 0.4, 200)                # high loss
    scores = np.concatenate([clean, noisy])
    posterior, ok = gmm_noise_posterior(scores)
    assert ok and posterior.shape == (1000,)
    flagged = posterior > 0.5
    assert flagged[800:].mean() > 0.97 and flagged[:800].mean() < 0.02
    # min-max normalisation: invariant to shifting and scaling the scores
    np.testing.assert_allclose(gmm_noise_posterior(3 * scores + 7)[0], posterior, atol=1e-6)
    constant, ok = gmm_noise_posterior(np.ones(50))
    assert not ok and not constant.any()
    per_epoch = gmm_per_epoch(np.stack([scores, np.ones_like(scores)]))
    assert per_epoch["posterior"].shape == (2, 1000) and per_epoch["ok"].tolist() == [True, False]


def test_folds_are_stratified_disjoint_and_cover_every_sample_once():
    labels = np.repeat(np.arange(4), [50, 30, 20, 100])
    folds = fold_indices(labels, 5, seed=3)
    assert len(folds) == 5
    held = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(held), np.arange(len(labels)))          # every sample once
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        assert len(train) + len(test) == len(labels)
        # stratified: each class's share of the fold is its share of the data (± one sample)
        counts = np.bincount(labels[test], minlength=4)
        assert np.all(np.abs(counts - np.bincount(labels) / 5) <= 1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, fold_indices(labels, 5, seed=3)))
    assert not np.array_equal(folds[0][1], fold_indices(labels, 5, seed=4)[0][1])
    with pytest.raises(ValueError, match="folds"):
        fold_indices(labels, 1, 0)


def test_out_of_fold_assembly_refuses_a_model_that_saw_its_sample(tmp_path):
    labels = np.repeat(np.arange(3), 10)
    folds = fold_indices(labels, 3, seed=0)
    paths = []
    for k, (train, test) in enumerate(folds):
        proba = np.eye(3)[labels[test]] * 0.8 + 0.2 / 3
        paths.append(tmp_path / f"fold{k}.npz")
        write_fold_predictions(paths[-1], k, 3, train, test, proba)
    proba = out_of_fold_probabilities(paths, len(labels))
    assert proba.shape == (30, 3) and np.allclose(proba.sum(1), 1)
    # a fold whose held-out samples overlap its training samples is refused
    train, test = folds[0]
    write_fold_predictions(paths[0], 0, 3, np.union1d(train, test[:2]), test, np.full((len(test), 3), 1 / 3))
    with pytest.raises(ValueError, match="trained on"):
        out_of_fold_probabilities(paths, len(labels))
    # a missing fold file, or a fold that leaves samples uncovered, is refused
    write_fold_predictions(paths[0], 0, 3, train, test, np.full((len(test), 3), 1 / 3))
    with pytest.raises(ValueError, match="3-fold split, but 2 fold files"):
        out_of_fold_probabilities(paths[1:], len(labels))
    write_fold_predictions(paths[0], 0, 3, train, test[:-1], np.full((len(test) - 1, 3), 1 / 3))
    with pytest.raises(ValueError, match="exactly once"):
        out_of_fold_probabilities(paths, len(labels))


def test_cleanlab_gets_labels_and_probabilities_in_label_order():
    """Flipped labels whose out-of-sample probabilities point to another class are found, and
    their score is higher than the clean samples'."""
    rng = np.random.default_rng(1)
    true = np.repeat(np.arange(3), 100)
    proba = np.full((300, 3), 0.05)
    proba[np.arange(300), true] = 0.9
    given = true.copy()
    flipped = rng.choice(300, 30, replace=False)
    given[flipped] = (true[flipped] + 1) % 3
    result = cleanlab_detection(given, proba)
    assert result["score"].shape == (300,) and result["flagged"].dtype == bool
    is_noisy = given != true
    assert result["flagged"][is_noisy].all() and result["flagged"][~is_noisy].mean() < 0.05
    assert result["score"][is_noisy].min() > result["score"][~is_noisy].max()
    with pytest.raises(ValueError, match="proba"):
        cleanlab_detection(given, proba[:10])


def test_pixel_classifier_probabilities_are_out_of_sample():
    from alsofilter.data import load_digits_dataset

    data = load_digits_dataset()
    labels = data.y_train
    proba = pixel_probabilities(data.x_train, labels, 5, seed=0)
    assert proba.shape == (len(labels), 10) and np.allclose(proba.sum(1), 1)
    # out of sample: accuracy well below the 100 % a logistic regression reaches on its own training set
    accuracy = (proba.argmax(1) == labels).mean()
    assert 0.85 < accuracy < 0.995


@pytest.mark.parametrize("classifier", ["svc", "knn"])
def test_stronger_pixel_classifiers_are_out_of_sample_and_beat_logistic_regression(classifier):
    """On digits an RBF SVM and kNN are far stronger than logistic regression (their out-of-sample
    accuracy on clean labels is higher), and still below the 100 % of their own training set."""
    from alsofilter.data import load_digits_dataset

    data = load_digits_dataset()
    labels = data.y_train
    logreg = (pixel_probabilities(data.x_train, labels, 5, seed=0).argmax(1) == labels).mean()
    proba = pixel_probabilities(data.x_train, labels, 5, seed=0, classifier=classifier)
    assert proba.shape == (len(labels), 10) and np.allclose(proba.sum(1), 1)
    accuracy = (proba.argmax(1) == labels).mean()
    assert logreg < accuracy < 0.999


def test_pixel_classifier_refuses_an_svc_that_would_take_hours_and_names_itself():
    from alsofilter.detectors.confident_learning import SVC_MAX_TRAIN, check_pixel_classifier
    from alsofilter.names import crossval_label

    check_pixel_classifier("svc", 5000, 5)
    with pytest.raises(ValueError, match="crossval.pixel_classifier 'svc'.*40000 images, more than 20000"):
        check_pixel_classifier("svc", 50000, 5)
    check_pixel_classifier("knn", 50000, 5)
    with pytest.raises(ValueError, match="unknown; choose one of"):
        check_pixel_classifier("forest", 100, 5)
    assert SVC_MAX_TRAIN == 20000
    assert crossval_label("cleanlab_pixels", 5) == "cleanlab, pixel logistic regression 5-fold CV"
    assert crossval_label("cleanlab_pixels", 3, "svc") == "cleanlab, pixel RBF SVM 3-fold CV"
    assert crossval_label("cleanlab_pixels", 3, "knn") == "cleanlab, pixel kNN 3-fold CV"


def test_leaderboard_aggregates_seeds_one_row_per_score_with_its_decisions_side_by_side():
    rows = []
    base = dict(dataset="digits", arch="resnet18", noise="symmetric", rate=0.4)
    for seed, (a, b) in enumerate([(0.9, 0.7), (0.8, 0.75)]):
        for detector, method, auc in ((OURS, "also-min", a), ("AdamW loss + BMM", "adamw", b)):
            for decision, f1 in (("BMM", 0.5 + seed / 10), ("GMM", 0.3)):
                rows.append(dict(**base, seed=seed, detector=detector.replace(" + BMM", f" + {decision}"),
                                 method=method, signal="x", decision=decision, auc=auc, ap=auc, precision=0.5,
                                 recall=0.5, f1=f1, noise_rate_est=0.4, training_jobs=1, training_seconds=10.0 + seed))
        rows.append(dict(**base, seed=seed, detector="cleanlab, network 2-fold CV", method="crossval",
                         signal="cleanlab_network", decision="cleanlab", auc=0.72, ap=0.6, precision=0.9, recall=0.2,
                         f1=0.33, noise_rate_est=0.1, training_jobs=2, training_seconds=30.0))
    table = aggregate(pd.DataFrame(rows))
    # one row per score: the two decisions of a score are columns, not rows
    assert table["detector"].tolist() == [OURS_SCORE, "AdamW loss", "cleanlab, network 2-fold CV"]
    assert table["decisions"].tolist() == ["BMM, GMM", "BMM, GMM", "cleanlab"]
    assert table.loc[0, "auc_mean"] == pytest.approx(0.85) and table.loc[0, "auc_std"] == pytest.approx(0.0707, abs=1e-3)
    assert table.loc[0, "f1_bmm_mean"] == pytest.approx(0.55) and table.loc[0, "f1_gmm_mean"] == pytest.approx(0.3)
    assert np.isnan(table.loc[0, "f1_cleanlab_mean"]) and np.isnan(table.loc[2, "f1_bmm_mean"])
    assert table.loc[2, "recall_cleanlab_mean"] == pytest.approx(0.2)
    assert table["ours"].tolist() == [True, False, False] and table["rank"].tolist() == [1, 2, 3]
    assert table.loc[0, "training_seconds"] == pytest.approx(10.5)
    md = markdown(table)
    assert f"**{OURS_SCORE}**" in md and "0.850 ± 0.071" in md
    assert "| BMM: P / R / F1 / rate | GMM: P / R / F1 / rate | cleanlab: P / R / F1 / rate |" in md
    assert "0.500 / 0.500 / 0.550 / 0.400" in md and "0.900 / 0.200 / 0.330 / 0.100" in md
    assert md.count(f"| {OURS_SCORE}") == 0 and md.count("AdamW loss |") == 1


def test_decision_scores_match_scikit_learn_including_empty_cases():
    from sklearn.metrics import precision_recall_fscore_support

    from alsofilter.detectors.metrics import decision_scores, detection_metrics

    rng = np.random.default_rng(0)
    cases = [(rng.random(50) < 0.3, rng.random(50) < p) for p in (0.0, 0.1, 0.5, 1.0)]
    cases += [(np.zeros(20, bool), rng.random(20) < 0.5), (np.zeros(20, bool), np.zeros(20, bool))]
    for is_noisy, flagged in cases:
        expected = precision_recall_fscore_support(is_noisy, flagged, average="binary", zero_division=0.0)[:3]
        assert np.allclose(decision_scores(is_noisy, flagged), expected)
    # a known split: 4 noisy of 10, the decision flags 3 of them and 1 clean sample
    is_noisy = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    posterior = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1])
    m = detection_metrics(is_noisy, posterior, posterior)
    assert (m["precision"], m["recall"]) == (0.75, 0.75) and m["f1"] == pytest.approx(0.75)
    assert m["noise_rate_est"] == 0.4 and m["noise_rate_true"] == 0.4 and m["auc"] == pytest.approx(23 / 24)


def test_the_signal_names_the_config_reads_are_the_registry_s():
    # the config checks names against alsofilter.names.SIGNAL_INPUTS without importing the detectors;
    # the registry must compute exactly those signals, each from the arrays listed there
    from alsofilter.detectors.signals import SIGNALS, register
    from alsofilter.names import SIGNAL_INPUTS

    assert {name: s.requires for name, s in SIGNALS.items()} == SIGNAL_INPUTS
    with pytest.raises(ValueError, match="not listed so in alsofilter.names.SIGNAL_INPUTS"):
        register("unlisted", requires=("loss",))(lambda record: record["loss"])
    with pytest.raises(ValueError, match="already registered"):
        register("aum", requires=("margin",))(lambda record: record["margin"])
    assert "unlisted" not in SIGNALS
