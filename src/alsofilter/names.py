"""Names: the detector signals that exist, and how tables, figures and galleries call methods,
signals and detectors.

:data:`SIGNAL_INPUTS` is the list of signal names that both the config's checks
(:mod:`alsofilter.config`) and the signal registry (:mod:`alsofilter.detectors.signals`, which
computes them) import: a new signal is a line here and a registered function there.

The display names: the leaderboard's detector strings (``ALSO-min π + BMM``) are built from them
and appear in ``leaderboard.csv``, so a change here changes that file's ``detector`` column.
"""
from __future__ import annotations

#: every detector signal by name, with the arrays of a training run it reads (``weight``: π, which
#: ALSO runs alone record; ``margin``: the label margin). The registry checks its entries against it.
SIGNAL_INPUTS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "weight": ("weight",),
    "loss_mean": ("loss",),
    "aum": ("margin",),
    "forgetting": ("pred", "noisy_label"),
    "confidence": ("loss",),
    "variability": ("loss",),
    "knn": ("features", "noisy_label"),
}

METHOD_LABELS = {"adamw": "AdamW", "also-min": "ALSO-min", "also-max": "ALSO-max"}
SIGNAL_LABELS = {"weight": "π", "loss": "loss", "loss_mean": "mean loss", "aum": "AUM",
                 "forgetting": "forgetting events", "confidence": "confidence", "variability": "variability",
                 "knn": "kNN label disagreement",
                 # the AdamW loss at an epoch chosen without clean labels (alsofilter.detectors.early_stopping)
                 "loss_stopped": "loss, stopped early"}
#: cross-validated detectors; ``{k}`` is the number of folds
CROSSVAL_LABELS = {"cleanlab_network": "cleanlab, network {k}-fold CV",
                   "cleanlab_pixels": "cleanlab, pixel {classifier} {k}-fold CV"}
#: the pixel classifiers of ``cleanlab_pixels`` (config key crossval.pixel_classifier)
PIXEL_CLASSIFIER_LABELS = {"logreg": "logistic regression", "svc": "RBF SVM", "knn": "kNN"}
REFERENCE_LABELS = {"none": "no filtering", "oracle": "oracle (true labels)"}


def method_label(method: str) -> str:
    """``also-min`` → ``ALSO-min``; a variant keeps its suffix: ``also-min-da`` → ``ALSO-min-da``
    (unknown names as given)."""
    for name in sorted(METHOD_LABELS, key=len, reverse=True):
        if method == name or method.startswith(name + "-"):
            return METHOD_LABELS[name] + method[len(name):]
    return method


def signal_label(signal: str) -> str:
    """``weight`` → ``π`` (unknown names as given)."""
    return SIGNAL_LABELS.get(signal, signal)


def score_label(method: str, signal: str) -> str:
    """A training run's suspicion score: ``ALSO-min π``."""
    return f"{method_label(method)} {signal_label(signal)}"


def detector_label(method: str, signal: str, decision: str) -> str:
    """A score with its mixture decision: ``ALSO-min π + BMM``."""
    return f"{score_label(method, signal)} + {decision.upper()}"


def crossval_label(detector: str, folds: int | None = None, pixel_classifier: str = "logreg") -> str:
    """``cleanlab, network 5-fold CV``; without ``folds``: ``cleanlab, network``. The pixel
    detector names its classifier: ``cleanlab, pixel RBF SVM 5-fold CV`` (``svc``)."""
    label = CROSSVAL_LABELS[detector].replace(
        "{classifier}", PIXEL_CLASSIFIER_LABELS.get(pixel_classifier, pixel_classifier))
    return label.replace(" {k}-fold CV", "") if folds is None else label.format(k=folds)


#: the paper's method, marked in every output
OURS = detector_label("also-min", "weight", "bmm")
#: its score (the leaderboard's row of it: one row per score, its decisions side by side)
OURS_SCORE = score_label("also-min", "weight")
