"""One call for people who do not want Snakemake: train, score, fit the mixture, rank.

>>> issues = alsofilter.find_label_issues(images, labels, method="also-min", epochs=30, width=8)
>>> issues[issues["is_issue"]]            # the samples the Beta mixture calls mislabeled

It runs what one ``train`` + ``fit_mixture`` + ``rank_samples`` job of the pipeline runs, on
arrays in memory: the method's network is trained on the given labels, its own detector (ALSO's
weight π, AdamW's per-sample loss) is read at the last epoch, a two-component Beta mixture turns
it into a noise probability per sample, and the samples come back most suspicious first.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from alsofilter.config import schema
from alsofilter.config.settings import TrainConfig
from alsofilter.data.container import _make_dataset
from alsofilter.detectors.metrics import DECISION_THRESHOLD
from alsofilter.detectors.ranking import ranked_samples
from alsofilter.training.job import Trainer, record_to_arrays


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
        raise ValueError(f"{what} must have shape ({n},) (one label per image), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
        raise ValueError(f"{what} must be non-negative integers, got dtype {y.dtype}"
                         + (f" with minimum {y.min()}" if np.issubdtype(y.dtype, np.number) and n else ""))
    return y.astype(np.int64)


def find_label_issues(images: np.ndarray, labels: np.ndarray, method: str = "also-min", *,
                      arch: str = "resnet18", seed: int = 0, device: str = "auto",
                      class_names: Sequence[str] | None = None, file_names: Sequence[str] | None = None,
                      true_labels: np.ndarray | None = None, bmm: Mapping[str, Any] | None = None,
                      progress: bool = False, **training: Any) -> pd.DataFrame:
    """Rank the samples of ``images`` by how likely their ``labels`` are wrong.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, H, W) or (N, H, W, C)
        The training images (grey or with C channels), 0..255.
    labels : ndarray of int, shape (N,)
        The given labels, 0..K-1 (K = ``len(class_names)``, or ``labels.max() + 1``).
    method : {"also-min", "adamw", "also-max"}
        ``also-min`` (the paper's method: ALSO's weights π), ``adamw`` (per-sample loss).
    arch, seed, device
        The network (``resnet18``, ``resnet34``), the run's seed, ``auto``/``cpu``/``cuda``/...
    class_names : sequence of str, length K, optional
    file_names : sequence of str, length N, optional
        Shown in the result (``file_name``), e.g. each image's original file.
    true_labels : ndarray of int, shape (N,), optional
        Only for evaluation on data with injected noise: fills ``true_label`` / ``is_noisy``
        (otherwise they repeat the given labels and 0).
    bmm : mapping, optional
        Beta-mixture settings of the config's ``bmm`` section (``n_iter``, ``lower_percentile``,
        ``upper_percentile``; schema defaults otherwise).
    progress : bool
        Show an epoch bar.
    **training
        Any key of the config's ``training`` section (``epochs``, ``width``, ``batch_size``,
        ``lr``, ``pi_lr``, ...; ``alsofilter/config/config.schema.yaml``). Defaults: the schema's
        (the authors' CIFAR-10 settings: width 64, 100 epochs), except ``pi_lr="auto"``, which
        scales ALSO's π step to N, the batch size and the epochs.

    Returns
    -------
    DataFrame, N rows, most suspicious first
        The columns of ``ranked_samples.csv`` (``rank, index, file_name, given_label,
        given_class, predicted_label, predicted_class, noise_probability, signal, score,
        true_label, is_noisy``) and ``is_issue`` (bool): the mixture's decision,
        ``noise_probability > 0.5``.
    """
    x = _as_images(images)
    y = _as_labels(labels, x.shape[0], "labels")
    truth = y if true_labels is None else _as_labels(true_labels, x.shape[0], "true_labels")
    num_classes = len(class_names) if class_names is not None else int(max(y.max(), truth.max()) + 1)
    if y.max() >= num_classes or truth.max() >= num_classes:
        raise ValueError(f"labels go up to {int(max(y.max(), truth.max()))} but there are {num_classes} class names")
    if file_names is not None and len(file_names) != x.shape[0]:
        raise ValueError(f"file_names has {len(file_names)} entries for {x.shape[0]} images")
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    data = _make_dataset("arrays", x, y, None, None, num_classes, names,
                         file_names=None if file_names is None else list(file_names))
    settings = {"pi_lr": "auto", **training, "method": method, "arch": arch, "seed": seed, "device": device}
    try:
        config = TrainConfig.from_dict(settings)
    except (TypeError, ValueError) as err:
        raise ValueError(f"find_label_issues: {err}") from None
    mixture_settings = schema.validate(dict(bmm or {}), "bmm")
    trainer = Trainer(data, y, truth, config)
    record = trainer.fit(progress=progress)
    if record is None:   # pragma: no cover - only a SIGTERM handler stops a fit early
        raise RuntimeError("training was stopped before it finished")
    arrays = {k: (v.numpy() if isinstance(v, torch.Tensor) else v)
              for k, v in record_to_arrays(record, truth, y).items()}
    table = ranked_samples(arrays, {}, method, names, data.file_names, mixture_settings)
    table["is_issue"] = table["noise_probability"] > DECISION_THRESHOLD
    return table
