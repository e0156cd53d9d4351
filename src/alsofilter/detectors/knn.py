"""kNN label agreement on learned features (SimiFeat-style, Zhu et al. 2022, "Detecting corrupted
labels without training a model to predict", ICML).

A sample whose given label differs from those of its nearest neighbours in a network's
representation is suspicious. The representation: the penultimate features (the input of the
last linear layer, after global average pooling) of the run's network at its last epoch, one
eval-mode pass without augmentation (:func:`alsofilter.training.features.penultimate_features`),
saved once per run in ``signals.npz`` as ``features`` (N, D) float16 with ``features_epoch``.
SimiFeat votes over k neighbours by cosine similarity; its score here is the share of the k
nearest *other* samples whose given label differs from the sample's own (0 = all agree, 1 = none).

Memory at N = 50 000 (ResNet-18, width 64: D = 512): the features are 50 000 × 512 × 4 B =
98 MiB in float32 (49 MiB as stored); scikit-learn's brute-force cosine search works in chunks of
its ``working_memory`` (1 GiB by default) and keeps the (N, k+1) neighbour indices and distances
(8.4 MiB). Measured in docs/results.md ("kNN on learned features").
"""
from __future__ import annotations

import numpy as np


def knn_disagreement(features, labels, k: int) -> np.ndarray:
    """(N,) float64: for each sample, the fraction of its ``k`` nearest other samples (cosine
    distance on ``features`` (N, D)) whose ``labels`` (N,) differ from its own. Ties in distance
    are broken by scikit-learn's search order (deterministic). ``k`` is capped at N − 1."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"features must be (N, D) with N = {y.shape[0]} labels, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"features hold {int((~np.isfinite(x)).sum())} non-finite values")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"kNN needs at least 2 samples, got {n}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = min(int(k), n - 1)
    search = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(x)
    _, index = search.kneighbors(x)
    # drop each sample itself (normally the first column; with duplicates it may be elsewhere)
    others = np.empty((n, k), dtype=np.int64)
    for i, row in enumerate(index):
        row = row[row != i]
        others[i] = row[:k]
    return (y[others] != y[:, None]).mean(axis=1)
