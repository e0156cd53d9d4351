"""The Python API for people who do not want Snakemake: train and rank, or rank signals one has.

>>> issues = alsofilter.find_label_issues(images, labels, epochs=30, width=8)
>>> issues[issues["is_issue"]]            # the samples the Beta mixture calls mislabeled

:func:`find_label_issues` runs what one ``train`` + ``fit_mixture`` + ``rank_samples`` job of the
pipeline runs, on arrays in memory: the method's network is trained on the given labels, its own
detector (ALSO's weight π, AdamW's per-sample loss) is read at the last epoch, a two-component
Beta mixture turns it into a noise probability per sample, and the samples come back most
suspicious first.

:func:`rank_label_issues` is that last part alone, the scoring layer: it ranks and decides over a
per-sample score a user already has (a loss, a weight, a margin from their own training), without
training anything.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from alsofilter.config.settings import TrainConfig
from alsofilter.data.container import ImageDataset
from alsofilter.detectors.gmm import gmm_noise_posterior
from alsofilter.detectors.metrics import DECISION_THRESHOLD
from alsofilter.detectors.ranking import bmm_posterior, primary_signal, ranked_table
from alsofilter.detectors.signals import suspicion_score
from alsofilter.training.job import Trainer, record_to_arrays

#: the decisions :func:`rank_label_issues` can take on a score
MIXTURES = ("bmm", "gmm")


def _as_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {x.dtype}")
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)   # (N, H, W, C) -> (N, C, H, W)
    else:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if x.shape[0] < 2 or min(x.shape[1:]) == 0:
        raise ValueError(f"images must hold at least 2 non-empty images, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _as_labels(labels, n: int, what: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{what} must have shape ({n},) (one label per sample), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
        raise ValueError(f"{what} must be non-negative integers, got dtype {y.dtype}"
                         + (f" with minimum {y.min()}" if np.issubdtype(y.dtype, np.number) and n else ""))
    return y.astype(np.int64)


def _checked_labels(labels, n: int, class_names, true_labels, file_names, predicted_labels=None):
    """``(labels, true_labels or None, num_classes, names)`` after every check of the labels."""
    y = _as_labels(labels, n, "labels")
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(f"labels hold a single class ({int(classes[0])}): there is nothing to tell a wrong label "
                         "from, give the labels of at least two classes")
    truth = None if true_labels is None else _as_labels(true_labels, n, "true_labels")
    predicted = None if predicted_labels is None else _as_labels(predicted_labels, n, "predicted_labels")
    highest = max(int(a.max()) for a in (y, truth, predicted) if a is not None)
    num_classes = len(class_names) if class_names is not None else highest + 1
    if highest >= num_classes:
        raise ValueError(f"labels go up to {highest} but there are {num_classes} class names")
    if file_names is not None and len(file_names) != n:
        raise ValueError(f"file_names has {len(file_names)} entries for {n} samples")
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    return y, truth, predicted, num_classes, names


def _issues(suspicion, raw, given, mixture: str, bmm, **columns) -> pd.DataFrame:
    if mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {list(MIXTURES)}, got {mixture!r}")
    posterior = bmm_posterior(suspicion, bmm) if mixture == "bmm" else gmm_noise_posterior(suspicion)[0]
    table = ranked_table(suspicion, raw, posterior, given, **columns)
    table["is_issue"] = table["noise_probability"] > DECISION_THRESHOLD
    return table


def rank_label_issues(scores: np.ndarray, labels: np.ndarray, *, higher_is_suspicious: bool = True,
                      mixture: str = "bmm", predicted_labels: np.ndarray | None = None,
                      class_names: Sequence[str] | None = None, file_names: Sequence[str] | None = None,
                      true_labels: np.ndarray | None = None, bmm: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Rank and decide over a per-sample score one already has: no training.

    The pipeline's scoring layer on its own (cleanlab's counterpart:
    ``cleanlab.rank.get_label_quality_scores`` for the ranking, ``cleanlab.filter`` for the
    decision): the score orders the samples, and a two-component mixture fitted to it gives
    each sample a probability that its label is wrong.

    Parameters
    ----------
    scores : ndarray of float, shape (N,)
        One value per sample from one's own training, e.g. the per-sample loss at the last epoch,
        its mean over epochs, ALSO's weight π, or a margin. Must be finite.
    labels : ndarray of int, shape (N,)
        The given labels the scores were computed with, 0..K-1; at least two classes.
    higher_is_suspicious : bool, default True
        True where a large score means a likely wrong label (a loss); False where a small one
        does (ALSO's weight π, a margin, a confidence). The score is negated before ranking.
    mixture : {"bmm", "gmm"}, default "bmm"
        The decision: ``"bmm"``, the paper's two-component Beta mixture on the score scaled to
        its 5th..95th percentiles (settings: ``bmm``); ``"gmm"``, DivideMix's two-component
        Gaussian mixture on the min-max scaled score.
    predicted_labels : ndarray of int, shape (N,), optional (default None)
        The model's predicted classes; shown as ``predicted_label`` / ``predicted_class``, which
        are left out without them.
    class_names : sequence of str, length K, optional (default None: "0", "1", ...)
    file_names : sequence of str, length N, optional (default None: empty)
        Shown in the result (``file_name``), e.g. each image's original file.
    true_labels : ndarray of int, shape (N,), optional (default None)
        Only for evaluation on data with injected noise: adds ``true_label`` and ``is_noisy``
        (``true_label != labels``); without them both columns are left out.
    bmm : mapping, optional (default None: the schema's defaults)
        Beta-mixture settings of the config's ``bmm`` section: ``n_iter`` (10),
        ``lower_percentile`` (5), ``upper_percentile`` (95).

    Returns
    -------
    DataFrame, N rows, most suspicious first (ties in index order)
        ``rank`` (1..N), ``index`` (position in ``scores``), ``file_name``, ``given_label``,
        ``given_class``, [``predicted_label``, ``predicted_class``], ``noise_probability`` (the
        mixture's posterior of the wrong-label component, 0..1), ``score`` (as given),
        [``true_label``, ``is_noisy``], and ``is_issue`` (bool): ``noise_probability > 0.5``.
        In input order: ``issues.sort_values("index")``.
    """
    raw = np.asarray(scores, dtype=np.float64)
    if raw.ndim != 1 or raw.shape[0] < 2:
        raise ValueError(f"scores must have shape (N,) with N >= 2 (one value per sample), got {raw.shape}")
    if not np.isfinite(raw).all():
        raise ValueError(f"scores must be finite; {int((~np.isfinite(raw)).sum())} of {raw.size} are not "
                         f"(first at index {int(np.flatnonzero(~np.isfinite(raw))[0])})")
    given, truth, predicted, _, names = _checked_labels(labels, raw.shape[0], class_names, true_labels, file_names,
                                                        predicted_labels)
    suspicion = raw if higher_is_suspicious else -raw
    return _issues(suspicion, raw, given, mixture, bmm, predicted=predicted, true_labels=truth,
                   class_names=names, file_names=None if file_names is None else list(file_names))


def find_label_issues(images: np.ndarray, labels: np.ndarray, method: str = "also-min", *,
                      also_mode: str = "descent-ascent", arch: str = "resnet18", seed: int = 0,
                      device: str = "auto", class_names: Sequence[str] | None = None,
                      file_names: Sequence[str] | None = None, true_labels: np.ndarray | None = None,
                      bmm: Mapping[str, Any] | None = None, progress: bool = False,
                      **training: Any) -> pd.DataFrame:
    """Train on ``images`` with their ``labels`` and rank the samples by how likely each label is wrong.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, H, W) or (N, H, W, C)
        The training images (grey, or with C channels), 0..255, all of one size.
    labels : ndarray of int, shape (N,)
        The given labels, 0..K-1 (K = ``len(class_names)``, or ``labels.max() + 1``); at least
        two classes.
    method : {"also-min", "adamw", "also-max"}, default "also-min"
        ``"also-min"``: the paper's method, a ResNet trained with ALSO (adaptive loss scaling)
        whose per-sample weights π are *minimised* against the loss, so mislabeled samples end
        with small π; the detector is π at the last epoch. ``"adamw"``: the paper's baseline, the
        same network trained with AdamW; the detector is the per-sample loss at the last epoch
        (it memorises the noise late in training, docs/results.md). ``"also-max"``: the original
        ALSO (π maximised; the paper's ablation; it ranks backwards).
    also_mode : {"descent-ascent", "extragrad", "optimistic"}, default "descent-ascent"
        ALSO's update of the network θ and the weights π: ``"descent-ascent"``, one simultaneous
        step from the gradients at (θ, π), one forward/backward pass per batch: the recommended
        ALSO-min (ahead of or within noise of the paper's update on every demo scenario,
        docs/results.md); ``"extragrad"``, the paper's extragradient (a half step, then the step
        from the old point with the half step's gradients; two passes per batch):
        ``also_mode="extragrad"`` reproduces the paper; ``"optimistic"``, the extragradient with
        the previous batch's gradients for the half step (one pass). Ignored by ``"adamw"``.
    arch : {"resnet18", "resnet34"}, default "resnet18"
        The CIFAR-style ResNet (3x3 stem, no max-pool).
    seed : int, default 0
        Seed of the network's initialisation, the batch order and the augmentation.
    device : str, default "auto"
        ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    class_names : sequence of str, length K, optional (default None: "0", "1", ...)
    file_names : sequence of str, length N, optional (default None: empty)
        Shown in the result (``file_name``), e.g. each image's original file.
    true_labels : ndarray of int, shape (N,), optional (default None)
        Only for evaluation on data with injected noise: adds ``true_label`` and ``is_noisy``
        (``true_label != labels``) to the result; without them both are left out, since nothing
        is known about them.
    bmm : mapping, optional (default None: the schema's defaults)
        Beta-mixture settings of the config's ``bmm`` section: ``n_iter`` (10),
        ``lower_percentile`` (5), ``upper_percentile`` (95).
    progress : bool, default False
        Show an epoch bar.
    **training
        Any key of the config's ``training`` section, with its default there
        (``alsofilter/config/config.schema.yaml``, docs/configuration.md): ``epochs`` (100),
        ``width`` (64, channels of the first stage), ``batch_size`` (64), ``lr`` (1e-3),
        ``weight_decay`` (1e-4), ``crop_padding`` (4) and ``flip`` (True) for augmentation,
        ``pi_lr``, ``pi_decay`` (0.1), .... The defaults are the authors' CIFAR-10 settings,
        except ``pi_lr="auto"``, which scales ALSO's π step to N, the batch size and the epochs
        (docs/configuration.md, "pi_lr: auto").

    Returns
    -------
    DataFrame, N rows, most suspicious first (ties in index order)
        ``rank`` (1..N), ``index`` (position in ``images``), ``file_name``, ``given_label``,
        ``given_class``, ``predicted_label``, ``predicted_class`` (the network's prediction at
        the last epoch), ``noise_probability`` (the Beta mixture's posterior that the label is
        wrong, 0..1), ``signal`` (``weight`` or ``loss``), ``score`` (π or the loss, raw: small π
        and large loss are suspicious), [``true_label``, ``is_noisy``: only with
        ``true_labels``], and ``is_issue`` (bool): ``noise_probability > 0.5``.

        Unlike cleanlab's ``cleanlab.filter.find_label_issues`` of the same name, which returns a
        boolean mask of N entries in input order (or, with ``return_indices_ranked_by``, the
        indices of the issues only), this returns every sample, sorted most suspicious first,
        with the decision as the ``is_issue`` column and the evidence beside it. cleanlab's mask
        is ``issues.sort_values("index")["is_issue"].to_numpy()``; its ranked indices are
        ``issues.loc[issues["is_issue"], "index"].to_numpy()``. ``noise_probability`` is a
        probability of a wrong label (high = suspicious), not cleanlab's label quality score
        (low = suspicious).
    """
    x = _as_images(images)
    y, truth, _, num_classes, names = _checked_labels(labels, x.shape[0], class_names, true_labels, file_names)
    data = ImageDataset.from_arrays("arrays", x, y, None, None, num_classes, names,
                                    file_names=None if file_names is None else list(file_names))
    settings = {"pi_lr": "auto", "also_mode": also_mode, **training, "method": method, "arch": arch, "seed": seed,
                "device": device}
    try:
        config = TrainConfig.from_dict(settings)
    except (TypeError, ValueError) as err:
        raise ValueError(f"find_label_issues: {err}") from None
    bmm_posterior(np.array([0.0, 1.0]), bmm)     # a bad bmm setting fails here, before the training
    # without true labels the training's own bookkeeping (memorisation) sees the given ones
    known = y if truth is None else truth
    record = Trainer(data, y, known, config).fit(progress=progress)
    if record is None:   # pragma: no cover - only a SIGTERM handler stops a fit early
        raise RuntimeError("training was stopped before it finished")
    arrays = {k: (v.numpy() if isinstance(v, torch.Tensor) else v)
              for k, v in record_to_arrays(record, known, y).items()}
    signal = primary_signal(method)
    suspicion = suspicion_score(signal, arrays)[-1]
    return _issues(suspicion, np.asarray(arrays[signal], dtype=np.float64)[-1], y, "bmm", bmm,
                   predicted=np.asarray(arrays["pred"])[-1], true_labels=truth, signal=signal,
                   class_names=names, file_names=data.file_names)
