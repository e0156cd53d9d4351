"""The one-line Python API: alsofilter.find_label_issues on real digits with injected noise."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import alsofilter
from alsofilter.data import load_digits_dataset
from alsofilter.data.noise import make_noisy_labels
from alsofilter.detectors.ranking import RANKED_COLUMNS


@pytest.fixture(scope="module")
def noisy_digits():
    data = load_digits_dataset()
    table = make_noisy_labels(data.y_train, data.num_classes, "symmetric", 0.4, 1, "digits")
    images = data.x_train[:, 0]                     # (N, 8, 8) grey, as a user would pass them
    return images, table["noisy_label"].to_numpy(), table["true_label"].to_numpy(), data.class_names


def test_adamw_loss_finds_the_flipped_labels(noisy_digits):
    images, noisy, true, names = noisy_digits
    issues = alsofilter.find_label_issues(images, noisy, method="adamw", epochs=3, width=8, crop_padding=0,
                                          flip=False, device="cpu", class_names=names, true_labels=true)
    assert list(issues.columns) == [*RANKED_COLUMNS, "is_issue"]
    assert len(issues) == len(noisy) and issues["rank"].tolist() == list(range(1, len(noisy) + 1))
    assert sorted(issues["index"]) == list(range(len(noisy)))
    assert (issues["given_label"].to_numpy() == noisy[issues["index"]]).all()
    assert issues["score"].is_monotonic_decreasing          # the loss: most suspicious first
    # early in training the loss separates flipped from correct labels (README: 0.966 at epoch 3)
    assert roc_auc_score(issues["is_noisy"], issues["score"]) > 0.85
    flagged = issues[issues["is_issue"]]
    assert 0 < len(flagged) < len(issues) and flagged["is_noisy"].mean() > 0.6


def test_also_min_returns_pi_ranked_and_leaves_out_what_is_not_known(noisy_digits):
    images, noisy, _, _ = noisy_digits
    issues = alsofilter.find_label_issues(images[:300], noisy[:300], epochs=1, width=8, crop_padding=0,
                                          flip=False, device="cpu")
    assert issues["signal"].eq("weight").all() and issues["score"].is_monotonic_increasing   # small π first
    # no true labels given: no true_label / is_noisy columns (they would only repeat the given labels)
    assert list(issues.columns) == [c for c in RANKED_COLUMNS if c not in ("true_label", "is_noisy")] + ["is_issue"]
    assert issues["given_class"].iloc[0] in [str(i) for i in range(10)]
    # the default is the recommended descent-ascent; the paper's extragradient is one keyword away
    paper = alsofilter.find_label_issues(images[:300], noisy[:300], also_mode="extragrad", epochs=1, width=8,
                                         crop_padding=0, flip=False, device="cpu")
    assert not np.allclose(paper.sort_values("index")["score"], issues.sort_values("index")["score"])


def test_rank_label_issues_ranks_and_decides_over_a_score_one_has():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    wrong = rng.random(400) < 0.3
    true = np.where(wrong, (labels + 1) % 3, labels)
    loss = np.where(wrong, rng.normal(3.0, 0.4, 400), rng.normal(0.5, 0.3, 400)).clip(0.01)
    issues = alsofilter.rank_label_issues(loss, labels, class_names=["a", "b", "c"])
    assert issues["score"].is_monotonic_decreasing and issues["rank"].tolist() == list(range(1, 401))
    assert "true_label" not in issues and "predicted_label" not in issues and "signal" not in issues
    by_index = issues.sort_values("index")
    flagged = by_index["is_issue"].to_numpy()
    # two well-separated groups: the Beta mixture flags every wrong label, and some clean ones
    # with it (on the loss scaled to its 5th..95th percentiles); the GMM below splits them exactly
    assert flagged[wrong].all() and wrong[flagged].mean() > 0.6
    assert roc_auc_score(wrong, by_index["noise_probability"]) > 0.99
    # a margin-like score (small = suspicious) with the GMM decision; true labels add the evaluation columns
    gmm = alsofilter.rank_label_issues(-loss, labels, higher_is_suspicious=False, mixture="gmm", true_labels=true,
                                       predicted_labels=true)
    assert gmm["score"].is_monotonic_increasing and gmm["index"].tolist() == issues["index"].tolist()
    assert (gmm.sort_values("index")["is_noisy"].to_numpy() == wrong).all()
    assert (gmm.sort_values("index")["is_issue"].to_numpy() == wrong).all() and gmm["predicted_class"].iloc[0] in "012"
    with pytest.raises(ValueError, match="finite"):
        alsofilter.rank_label_issues(np.r_[loss[:-1], np.nan], labels)
    with pytest.raises(ValueError, match="single class"):
        alsofilter.rank_label_issues(loss, np.zeros(400, int))
    with pytest.raises(ValueError, match="mixture"):
        alsofilter.rank_label_issues(loss, labels, mixture="kmeans")
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        alsofilter.rank_label_issues(loss[:, None], labels)


def test_a_class_too_small_for_the_folds_is_named():
    from alsofilter.detectors.confident_learning import fold_indices

    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    with pytest.raises(ValueError, match="class 2 has 2"):
        fold_indices(labels, 3, seed=0)
    assert len(fold_indices(labels, 2, seed=0)) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((4, 8, 8), np.float32)}, "uint8"),
    ({"labels": np.array([0, 1, 2])}, "shape (4,)"),
    ({"labels": np.array([0, 1, -1, 0])}, "non-negative"),
    ({"epochs": 0}, "training.epochs"),
    ({"epoch": 3}, "unknown training setting"),
    ({"method": "sgd"}, "sgd"),
    ({"bmm": {"n_iter": 0}}, "bmm.n_iter"),
    ({"labels": np.array([1, 1, 1, 1])}, "single class (1)"),
    ({"also_mode": "sgd"}, "training.also_mode"),
])
def test_bad_input_is_named(kwargs, message):
    args = {"images": np.zeros((4, 8, 8), np.uint8), "labels": np.array([0, 1, 0, 1])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        alsofilter.find_label_issues(args.pop("images"), args.pop("labels"), epochs=args.pop("epochs", 1),
                                     **args)
