"""Confident learning (cleanlab) on out-of-sample probabilities from stratified K-fold cross-validation.

cleanlab's guidance is to feed it predicted probabilities that are *out of sample*: each sample's
probabilities come from a model that never saw it. Two sources, each a detector of its own:

``cleanlab_network``
    The AdamW baseline's network and recipe, trained on K−1 folds (one ordinary training job per
    fold: :func:`alsofilter.training.job.run_training_job` with ``train_index``), predicting the
    held-out fold at its last epoch (eval mode, no augmentation). K jobs per (scenario, seed).
``cleanlab_pixels``
    A scikit-learn pipeline on the raw pixels: PCA to at most
    :data:`PIXEL_PCA_COMPONENTS` dimensions, then the classifier of ``crossval.pixel_classifier``
    (:data:`PIXEL_CLASSIFIERS`):

    * ``logreg`` (default): standardised, PCA whitened, multinomial logistic regression. Calibrated (fitted by
      log-loss, a proper scoring rule, as cleanlab wants), cannot memorise noisy labels the way
      a network does, seconds even on 50 000 CIFAR images; the weakest reasonable choice.
    * ``svc``: an RBF support-vector machine with Platt-scaled probabilities (scikit-learn's
      ``CalibratedClassifierCV(SVC(), method="sigmoid", cv=5, ensemble=False)``, what
      ``SVC(probability=True)`` did before scikit-learn 1.9 deprecated it), far stronger on
      digit-like data. Its cost
      grows between N² and N³: above :data:`SVC_MAX_TRAIN` training samples per fold it is
      refused with a message (an SVC on 40 000 CIFAR images takes hours).
    * ``knn``: :data:`PIXEL_KNN_NEIGHBOURS` nearest neighbours (Euclidean), probabilities = the
      neighbours' label shares.

    ``svc`` and ``knn`` work on the pixels in [0, 1], PCA'd but neither standardised nor whitened.

    Same folds as the network.

Folds: :class:`sklearn.model_selection.StratifiedKFold` on the *given* (noisy) labels — what a
user has — shuffled with the run's seed. The decision is ``cleanlab.filter.find_label_issues``
(default ``prune_by_noise_rate``), the score ``1 − cleanlab.rank.get_label_quality_scores``
(self-confidence), so higher = more suspicious like every other detector here.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from alsofilter.io import atomic_path, write_text_atomic
from alsofilter.detectors.metrics import detection_metrics
#: PCA dimensions of the pixel classifier (images with fewer pixels keep all of them)
PIXEL_PCA_COMPONENTS = 128
#: the pixel classifiers of ``cleanlab_pixels`` (config key crossval.pixel_classifier)
PIXEL_CLASSIFIERS = ("logreg", "svc", "knn")
#: the most training samples per fold an SVC is fitted on (beyond: hours; see the module docstring)
SVC_MAX_TRAIN = 20000
#: neighbours of the ``knn`` pixel classifier
PIXEL_KNN_NEIGHBOURS = 10


def fold_indices(labels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold split of ``labels`` (N,): a list of K ``(train_index, held_out_index)``,
    sorted int64 arrays; the held-out sets are disjoint and cover every sample once."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"crossval folds must be an integer >= 2, got {n_folds!r}")
    counts = np.bincount(labels)
    small = {int(c): int(counts[c]) for c in np.flatnonzero((counts > 0) & (counts < n_folds))}
    if small:
        # fewer than K samples: some folds hold none of the class out, and with one sample the
        # model that scores it never saw its class
        raise ValueError(f"crossval.folds = {n_folds} needs at least {n_folds} samples of every class; "
                         + ", ".join(f"class {c} has {k}" for c, k in small.items())
                         + ": lower crossval.folds or leave out the cross-validated detectors (crossval.detectors: [])")
    splitter = StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=int(seed) % 2**32)
    return [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64))
            for tr, te in splitter.split(np.zeros(len(labels)), labels)]


def write_fold_predictions(path, fold: int, n_folds: int, train_index, held_out_index, proba) -> None:
    """One fold's out-of-sample probabilities: ``index`` (M,) held-out samples, ``proba`` (M, C),
    ``train_index`` (the samples its model was trained on), ``fold``, ``n_folds``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, index=np.asarray(held_out_index, dtype=np.int64),
                                proba=np.asarray(proba, dtype=np.float32),
                                train_index=np.asarray(train_index, dtype=np.int64),
                                fold=np.int64(fold), n_folds=np.int64(n_folds))


def out_of_fold_probabilities(fold_files: Sequence[str | Path], n_samples: int) -> np.ndarray:
    """Assemble K fold files into (N, C) out-of-sample probabilities, checking that the held-out
    sets are disjoint, cover all N samples once, and that no probability comes from a model that
    was trained on that sample."""
    proba = None
    seen = np.zeros(n_samples, dtype=np.int64)
    folds = []
    for path in fold_files:
        with np.load(path) as f:
            index, p, train_index, fold = f["index"], f["proba"], f["train_index"], int(f["fold"])
            n_folds = int(f["n_folds"])
        if n_folds != len(fold_files):
            raise ValueError(f"{path} is fold {fold} of a {n_folds}-fold split, but {len(fold_files)} "
                             "fold files were given")
        if np.intersect1d(index, train_index).size:
            raise ValueError(f"{path}: fold {fold} predicts samples its model was trained on "
                             f"({np.intersect1d(index, train_index)[:5].tolist()}...)")
        if index.min(initial=0) < 0 or index.max(initial=0) >= n_samples:
            raise ValueError(f"{path}: held-out indices outside [0, {n_samples})")
        if proba is None:
            proba = np.full((n_samples, p.shape[1]), np.nan, dtype=np.float64)
        proba[index] = p
        seen[index] += 1
        folds.append(fold)
    if sorted(folds) != list(range(len(folds))):
        raise ValueError(f"fold files hold folds {sorted(folds)}, expected 0..{len(folds) - 1}")
    if proba is None or not np.all(seen == 1):
        raise ValueError(f"held-out folds must cover each of the {n_samples} samples exactly once: "
                         f"{int((seen == 0).sum())} never, {int((seen > 1).sum())} more than once")
    return proba


def check_pixel_classifier(classifier: str, n_samples: int, n_folds: int) -> None:
    """Raise ``ValueError`` for an unknown classifier, or an SVC whose folds would train on more
    than :data:`SVC_MAX_TRAIN` samples (hours), naming the setting and what to use instead."""
    if classifier not in PIXEL_CLASSIFIERS:
        raise ValueError(f"crossval.pixel_classifier {classifier!r} is unknown; choose one of {list(PIXEL_CLASSIFIERS)}")
    per_fold = int(n_samples) - int(n_samples) // int(n_folds)
    if classifier == "svc" and per_fold > SVC_MAX_TRAIN:
        raise ValueError(
            f"crossval.pixel_classifier 'svc': each of the {n_folds} folds would fit an RBF SVM on "
            f"~{per_fold} images, more than {SVC_MAX_TRAIN} (its cost grows as N^2-N^3 with five internal "
            "fits for the probabilities: hours at 40 000 CIFAR images); use knn or logreg, or a "
            "subset of the data (datasets.<name>.subset)")


def pixel_classifier(classifier: str, n_features: int, n_train: int, seed: int):
    """The unfitted scikit-learn pipeline of ``classifier`` (:data:`PIXEL_CLASSIFIERS`) for
    ``n_features`` pixels and ``n_train`` training samples."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    # standardising and whitening suit the linear model; distances (RBF, neighbours) are taken on
    # the pixels in [0, 1] (PCA, not whitened, keeps their geometry), as usual for these models:
    # standardised, near-constant border pixels would weigh as much as the strokes
    steps = [StandardScaler()] if classifier == "logreg" else []
    n_components = min(PIXEL_PCA_COMPONENTS, n_features, n_train - 1)
    if n_components < n_features:
        steps.append(PCA(n_components=n_components, whiten=classifier == "logreg", random_state=0))
    if classifier == "logreg":
        final = LogisticRegression(C=1.0, max_iter=1000)
    elif classifier == "svc":
        # Platt scaling on 5 internal folds, one SVC refitted on all (what SVC(probability=True)
        # did; scikit-learn 1.9 deprecates that flag for this)
        final = CalibratedClassifierCV(SVC(kernel="rbf", C=1.0, gamma="scale"), method="sigmoid", cv=5,
                                       ensemble=False)
    else:
        final = KNeighborsClassifier(n_neighbors=min(PIXEL_KNN_NEIGHBOURS, n_train))
    return make_pipeline(*steps, final)


def pixel_probabilities(x: np.ndarray, labels: np.ndarray, n_folds: int, seed: int,
                        classifier: str = "logreg") -> np.ndarray:
    """Out-of-sample probabilities (N, C) of the pixel classifier ``classifier``
    (:data:`PIXEL_CLASSIFIERS`), over the same folds as :func:`fold_indices`. x uint8 (N, C, H, W)."""
    check_pixel_classifier(classifier, len(x), n_folds)
    features = np.asarray(x, dtype=np.float32).reshape(len(x), -1) / 255.0
    labels = np.asarray(labels, dtype=np.int64)
    classes = int(labels.max()) + 1
    proba = np.zeros((len(labels), classes))
    for train_index, held_out_index in fold_indices(labels, n_folds, seed):
        model = pixel_classifier(classifier, features.shape[1], len(train_index), seed)
        model.fit(features[train_index], labels[train_index])
        fold_proba = np.zeros((len(held_out_index), classes))
        fold_proba[:, model.classes_] = model.predict_proba(features[held_out_index])
        proba[held_out_index] = fold_proba
    return proba


def cleanlab_detection(labels: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """cleanlab on out-of-sample probabilities. labels (N,) given labels, proba (N, C) rows
    summing to 1, columns in label order. Returns ``score`` (N,) = 1 − label quality (higher =
    more suspicious) and ``flagged`` (N,) bool = ``find_label_issues``."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != labels.shape[0]:
        raise ValueError(f"proba must be (N, C) with N = {labels.shape[0]}, got {proba.shape}")
    proba = np.clip(proba, 1e-12, None)
    proba /= proba.sum(1, keepdims=True)
    quality = get_label_quality_scores(labels, proba)
    flagged = find_label_issues(labels, proba)
    return {"score": 1.0 - quality, "flagged": np.asarray(flagged, dtype=bool)}


def write_detection(out_npz, out_metrics, detector: str, is_noisy, proba, detection: Mapping,
                    seconds: float | None = None, runs: int = 0, classifier: str | None = None) -> pd.DataFrame:
    """Write a cross-validated detector's per-sample result (``score``, ``flagged``, ``proba``,
    ``is_noisy``) and its one-row metrics table (same columns as a run's metrics.csv, epoch =
    final, plus ``detector``, ``training_runs`` and ``training_seconds`` where known, and the
    pixel ``classifier`` of ``cleanlab_pixels``)."""
    with atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, score=detection["score"], flagged=detection["flagged"],
                                proba=np.asarray(proba, dtype=np.float32), is_noisy=np.asarray(is_noisy))
    row = {"detector": detector, "signal": detector, "epoch": -1}
    row.update(detection_metrics(is_noisy, detection["score"], detection["flagged"].astype(float)))
    row.update(fit_ok=True, training_runs=runs, training_seconds=seconds)
    if classifier is not None:
        row["classifier"] = classifier
    table = pd.DataFrame([row])
    write_text_atomic(out_metrics, table.to_csv(index=False))
    return table


