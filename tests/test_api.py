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


def test_also_min_returns_pi_ranked(noisy_digits):
    images, noisy, _, _ = noisy_digits
    issues = alsofilter.find_label_issues(images[:300], noisy[:300], epochs=1, width=8, crop_padding=0,
                                          flip=False, device="cpu")
    assert issues["signal"].eq("weight").all() and issues["score"].is_monotonic_increasing   # small π first
    assert issues["is_noisy"].eq(0).all() and issues["given_class"].iloc[0] in [str(i) for i in range(10)]


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((4, 8, 8), np.float32)}, "uint8"),
    ({"labels": np.array([0, 1, 2])}, "shape (4,)"),
    ({"labels": np.array([0, 1, -1, 0])}, "non-negative"),
    ({"epochs": 0}, "training.epochs"),
    ({"epoch": 3}, "unknown training setting"),
    ({"method": "sgd"}, "sgd"),
    ({"bmm": {"n_iter": 0}}, "bmm.n_iter"),
])
def test_bad_input_is_named(kwargs, message):
    args = {"images": np.zeros((4, 8, 8), np.uint8), "labels": np.array([0, 1, 0, 1])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        alsofilter.find_label_issues(args.pop("images"), args.pop("labels"), epochs=args.pop("epochs", 1),
                                     **args)
