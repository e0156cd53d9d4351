"""Training loop: AdamW or ALSO on a ResNet, recording per-sample signals every epoch.

The data live on the device as uint8 tensors; each batch is drawn by index from a random
permutation and augmented as a batch (:mod:`alsofilter.augment`), so a step does no per-sample
Python work. Per-sample losses and predictions are scattered into device buffers during the
epoch and copied to the host once per epoch.

Recorded per epoch (arrays ``(E, N)``, N = training samples):

* ``loss``: per-sample cross-entropy against the given (noisy) label. ``loss_source="train"``
  (default, the authors' choice) takes it from the training pass itself (train mode, augmented,
  before that step's update); ``"eval"`` runs a separate eval-mode pass without augmentation after
  the epoch (Arazo et al.).
* ``pred``: predicted class, from the same pass as ``loss``.
* ``weight``: ALSO's π at the end of the epoch (ALSO methods only).

plus a history table: mean training loss, training accuracy against the given labels, clean test
accuracy and the memorization fractions of the mislabeled samples (SPEC §7).
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .also import ALSO
from .augment import Normalize, augment_batch
from .data import ImageDataset
from .metrics import memorization_fractions
from .models import build_model
from .settings import TrainConfig

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device (must exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def batches(perm: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split a permutation into batches; a trailing batch of one sample joins the previous one
    (batch norm cannot train on a single sample)."""
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and chunks[-1].numel() == 1:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks


@dataclass
class RunRecord:
    """What a run produced: per-epoch per-sample arrays and the per-epoch history."""

    arrays: dict[str, list[np.ndarray]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def add(self, name: str, values: np.ndarray) -> None:
        self.arrays.setdefault(name, []).append(values)

    def stacked(self) -> dict[str, np.ndarray]:
        return {k: np.stack(v) for k, v in self.arrays.items()}


class Trainer:
    """Trains one model on one noisy-label training set and records the signals.

    Parameters
    ----------
    dataset : the images (``x_train`` uint8 (N, C, H, W), clean ``x_test``/``y_test``).
    noisy_labels : (N,) int labels used for training.
    true_labels : (N,) clean labels (only for the memorization fractions).
    config : :class:`TrainConfig`.
    """

    def __init__(self, dataset: ImageDataset, noisy_labels: np.ndarray, true_labels: np.ndarray,
                 config: TrainConfig):
        n = dataset.x_train.shape[0]
        if len(noisy_labels) != n or len(true_labels) != n:
            raise ValueError(f"label arrays have length {len(noisy_labels)}/{len(true_labels)}, "
                             f"the training set has {n} samples")
        if config.batch_size > n:
            raise ValueError(f"batch_size {config.batch_size} is larger than the training set ({n} samples)")
        self.config = config
        self.device = resolve_device(config.device)
        seed_everything(config.seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(config.seed)
        self.num_samples = n
        self.x_train = torch.from_numpy(np.ascontiguousarray(dataset.x_train)).to(self.device)
        self.y_train = torch.from_numpy(np.asarray(noisy_labels, dtype=np.int64)).to(self.device)
        self.true_labels = np.asarray(true_labels, dtype=np.int64)
        self.noisy_labels = np.asarray(noisy_labels, dtype=np.int64)
        self.x_test = self.y_test = None
        if dataset.x_test is not None and len(dataset.x_test):
            self.x_test = torch.from_numpy(np.ascontiguousarray(dataset.x_test)).to(self.device)
            self.y_test = torch.from_numpy(np.asarray(dataset.y_test, dtype=np.int64)).to(self.device)
        self.normalize = Normalize(dataset.mean, dataset.std, self.device)
        self.model = build_model(config.arch, dataset.num_classes, dataset.in_channels,
                                 config.width).to(self.device)
        if config.method == "adamw":
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay)
        else:
            self.optimizer = ALSO(self.model.parameters(), n, lr=config.lr,
                                  weight_decay=config.weight_decay, pi_lr=config.pi_lr,
                                  pi_decay=config.pi_decay, direction=config.method.split("-")[1],
                                  mode=config.also_mode, eps=config.eps,
                                  temperature=config.temperature, device=self.device)
        self.epoch = 0
        self.record = RunRecord()

    @property
    def is_also(self) -> bool:
        return isinstance(self.optimizer, ALSO)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self) -> dict[str, torch.Tensor]:
        """One pass over the training set; returns device tensors ``loss`` and ``pred`` (N,)."""
        cfg = self.config
        self.model.train()
        loss_buf = torch.zeros(self.num_samples, device=self.device)
        pred_buf = torch.zeros(self.num_samples, dtype=torch.int64, device=self.device)
        perm = torch.randperm(self.num_samples, device=self.device, generator=self.generator)
        for idx in batches(perm, cfg.batch_size):
            xb = self.normalize(augment_batch(self.x_train[idx], cfg.crop_padding, cfg.flip, self.generator))
            yb = self.y_train[idx]

            def closure(xb=xb, yb=yb):
                logits = self.model(xb)
                return F.cross_entropy(logits, yb, reduction="none"), logits

            if self.is_also:
                ce, logits = self.optimizer.step(idx, closure)
            else:
                self.optimizer.zero_grad(set_to_none=True)
                ce, logits = closure()
                ce.mean().backward()
                self.optimizer.step()
                ce, logits = ce.detach(), logits.detach()
            loss_buf[idx] = ce
            pred_buf[idx] = logits.argmax(1)
        return {"loss": loss_buf, "pred": pred_buf}

    @torch.no_grad()
    def predict(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode per-sample loss and prediction, no augmentation. x uint8 (M, C, H, W)."""
        self.model.eval()
        losses, preds = [], []
        for start in range(0, x.shape[0], self.config.eval_batch_size):
            logits = self.model(self.normalize(x[start:start + self.config.eval_batch_size]))
            yb = y[start:start + self.config.eval_batch_size]
            losses.append(F.cross_entropy(logits, yb, reduction="none"))
            preds.append(logits.argmax(1))
        return torch.cat(losses), torch.cat(preds)

    def run_epoch(self) -> dict:
        """Train one epoch, record its signals and history row; returns the row."""
        start = time.perf_counter()
        out = self.train_epoch()
        if self.config.loss_source == "eval":
            out["loss"], out["pred"] = self.predict(self.x_train, self.y_train)
        test_acc = np.nan
        if self.x_test is not None:
            _, test_pred = self.predict(self.x_test, self.y_test)
            test_acc = (test_pred == self.y_test).float().mean()
        # one host transfer per epoch
        loss = out["loss"].cpu().numpy().astype(np.float32)
        pred = out["pred"].cpu().numpy().astype(np.int16)
        self.epoch += 1
        check_finite(loss, "per-sample loss", self.epoch)
        self.record.add("loss", loss)
        self.record.add("pred", pred)
        if self.is_also:
            pi = self.optimizer.pi.detach().cpu().numpy().astype(np.float32)
            check_finite(pi, "ALSO weights π", self.epoch)
            self.record.add("weight", pi)
        row = {"epoch": self.epoch, "train_loss": float(loss.mean()),
               "train_acc": float(np.mean(pred == self.noisy_labels)),
               "test_acc": float(test_acc)}
        row.update(memorization_fractions(pred, self.true_labels, self.noisy_labels))
        row["seconds"] = time.perf_counter() - start
        self.record.history.append(row)
        return row

    def fit(self, progress: bool = True, on_epoch: Callable[[dict], None] | None = None) -> RunRecord:
        """Train until ``config.epochs`` epochs are done; returns the record."""
        from tqdm.auto import tqdm

        bar = tqdm(total=self.config.epochs, initial=self.epoch, desc=self.config.method,
                   unit="epoch", disable=not progress, leave=True)
        while self.epoch < self.config.epochs:
            row = self.run_epoch()
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_acc=f"{row['test_acc']:.3f}")
            bar.update(1)
            if on_epoch is not None:
                on_epoch(row)
        bar.close()
        return self.record


class DivergenceError(RuntimeError):
    """Training produced non-finite numbers."""


def check_finite(values: np.ndarray, what: str, epoch: int) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DivergenceError(f"{what} has {int(bad.sum())} non-finite values after epoch {epoch}: "
                              "the run diverged (lower the learning rate or pi_lr)")


def record_to_arrays(record: RunRecord, true_labels, noisy_labels) -> dict[str, np.ndarray]:
    """Arrays of a run's ``signals.npz``: ``loss`` (E, N) float32, ``pred`` (E, N) int16,
    ``weight`` (E, N) float32 for ALSO, ``true_label``/``noisy_label`` (N,) int64,
    ``is_noisy`` (N,) bool, ``epoch`` (E,) int."""
    arrays = record.stacked()
    arrays["true_label"] = np.asarray(true_labels, dtype=np.int64)
    arrays["noisy_label"] = np.asarray(noisy_labels, dtype=np.int64)
    arrays["is_noisy"] = arrays["true_label"] != arrays["noisy_label"]
    arrays["epoch"] = np.arange(1, len(record.history) + 1)
    return arrays


def history_frame(record: RunRecord) -> pd.DataFrame:
    return pd.DataFrame(record.history)
