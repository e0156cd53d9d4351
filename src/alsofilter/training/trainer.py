"""Training loop: AdamW or ALSO on a ResNet, recording per-sample signals every epoch.

The data live on the device as uint8 tensors; each batch is drawn by index from a random
permutation and augmented as a batch (:mod:`alsofilter.training.augment`), so a step does no per-sample
Python work. Per-sample losses, predictions and margins are scattered into device buffers
during the epoch (:class:`EpochState`, which also keeps an interrupted epoch for the checkpoint
and spots divergence without a host synchronisation) and copied to the host at its end.

Recorded per epoch (arrays ``(E, N)``, N = training samples):

* ``loss``: per-sample cross-entropy against the given (noisy) label. ``loss_source="train"``
  (default, the authors' choice) takes it from the training pass itself (train mode, augmented,
  before that step's update); ``"eval"`` runs a separate eval-mode pass without augmentation after
  the epoch (Arazo et al.).
* ``pred``: predicted class, from the same pass as ``loss``.
* ``margin``: logit of the given label minus the largest other logit, from the same pass (the
  area-under-the-margin detector of Pleiss et al. 2020 averages it over epochs).
* ``weight``: ALSO's π at the end of the epoch (ALSO methods only).

plus a history table: mean training loss, training accuracy against the given labels, clean test
accuracy and the memorization fractions of the mislabeled samples (SPEC §7).
"""
from __future__ import annotations

import dataclasses
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from alsofilter.training.also import ALSO, fused_adam
from alsofilter.training.augment import Normalize, augment_batch
from alsofilter.data import ImageDataset
from alsofilter.detectors.metrics import memorization_fractions
from alsofilter.training.models import build_model
from alsofilter.training.speed import apply_backend_flags, compiled
from alsofilter.config.settings import TrainConfig, resolve_pi_lr
from alsofilter.io import atomic_path


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
        last = chunks.pop()
        chunks[-1] = torch.cat([chunks[-1], last])
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


@dataclass
class Progress:
    """Where a run is, for the stall watchdog (:mod:`alsofilter.training.watchdog`) and error
    messages: the phase (``training``/``evaluation``), the batch in it (1-based) of how many, and
    the batches finished in all."""

    phase: str = "start"
    step: int = 0
    steps_in_phase: int = 0
    batches_done: int = 0

    def enter(self, phase: str, steps: int) -> None:
        self.phase, self.steps_in_phase = phase, steps

    def at(self, step: int) -> None:
        self.step = step

    def batch_done(self) -> None:
        self.batches_done += 1


@dataclass
class EpochState:
    """One epoch on its way: the sample order, the next step, the per-sample signals scattered so
    far (device tensors (N,)) and the first step that gave non-finite numbers (-1: none; a 0-d
    device tensor, so that no step waits for the host). Survives a stop request in the checkpoint
    (:meth:`as_dict`, the format of ``partial``)."""

    perm: torch.Tensor
    position: int
    loss: torch.Tensor
    pred: torch.Tensor
    margin: torch.Tensor
    first_bad_step: torch.Tensor

    @classmethod
    def start(cls, num_samples: int, device: torch.device, generator: torch.Generator) -> "EpochState":
        """A new epoch: a random permutation of the N samples drawn from ``generator``."""
        perm = torch.randperm(num_samples, device=device, generator=generator)
        return cls(perm, 0, torch.zeros(num_samples, device=device),
                   torch.zeros(num_samples, dtype=torch.int64, device=device),
                   torch.zeros(num_samples, device=device),
                   torch.full((), -1, dtype=torch.int64, device=device))

    def record(self, step: int, idx: torch.Tensor, ce: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor, finite: torch.Tensor) -> None:
        """Scatter step ``step``'s (0-based) per-sample losses, predictions and margins into the
        buffers at ``idx``; remember the step if ``finite`` is false."""
        bad = self.first_bad_step
        bad.copy_(torch.where((bad < 0) & ~finite, step + 1, bad))
        self.loss[idx] = ce
        self.pred[idx] = logits.argmax(1)
        self.margin[idx] = label_margin(logits, labels)

    def raise_if_diverged(self, what: str, steps: int) -> None:
        """DivergenceError when a step gave non-finite numbers (the epoch's one host synchronisation)."""
        bad_step = int(self.first_bad_step)
        if bad_step > 0:
            raise DivergenceError(f"{what}, step {bad_step} of {steps}; the run diverged (lower lr or pi_lr)")

    def signals(self) -> dict[str, torch.Tensor]:
        return {"loss": self.loss, "pred": self.pred, "margin": self.margin}

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, state: dict, device: torch.device) -> "EpochState":
        return cls(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in state.items()})


class Trainer:
    """Trains one model on one noisy-label training set and records the signals.

    Parameters
    ----------
    dataset : the images (``x_train`` uint8 (N, C, H, W), clean ``x_test``/``y_test``).
    noisy_labels : (N,) int labels used for training.
    true_labels : (N,) clean labels (only for the memorization fractions).
    config : :class:`TrainConfig`.
    name : names the run in error messages.

    All randomness after construction (shuffling, augmentation) comes from ``self.generator``,
    so a run restored with :meth:`load_state_dict` continues exactly as it would have.
    """

    def __init__(self, dataset: ImageDataset, noisy_labels: np.ndarray, true_labels: np.ndarray,
                 config: TrainConfig, name: str | None = None):
        n = dataset.x_train.shape[0]
        if len(noisy_labels) != n or len(true_labels) != n:
            raise ValueError(f"label arrays have length {len(noisy_labels)}/{len(true_labels)}, "
                             f"the training set has {n} samples")
        if config.batch_size > n:
            raise ValueError(f"batch_size {config.batch_size} is larger than the training set ({n} samples)")
        self.config = config
        self.device = resolve_device(config.device)
        set_determinism(config.deterministic, self.device)
        #: precision, memory format, TF32, cuDNN autotuning and compilation of this run (provenance)
        self.backends = apply_backend_flags(config, self.device)
        seed_everything(config.seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(config.seed)
        self.num_samples = n
        # np.array copies: the dataset may be read-only memory maps (alsofilter.data.prepared)
        self.x_train = torch.from_numpy(np.array(dataset.x_train, dtype=np.uint8, order="C")).to(self.device)
        self.y_train = torch.from_numpy(np.array(noisy_labels, dtype=np.int64)).to(self.device)
        self.true_labels = np.asarray(true_labels, dtype=np.int64)
        self.noisy_labels = np.asarray(noisy_labels, dtype=np.int64)
        self.x_test = self.y_test = None
        if dataset.x_test is not None and len(dataset.x_test):
            self.x_test = torch.from_numpy(np.array(dataset.x_test, dtype=np.uint8, order="C")).to(self.device)
            self.y_test = torch.from_numpy(np.array(dataset.y_test, dtype=np.int64)).to(self.device)
        self.normalize = Normalize(dataset.mean, dataset.std, self.device)
        self.model = build_model(config.arch, dataset.num_classes, dataset.in_channels,
                                 config.width).to(self.device)
        self.memory_format = torch.channels_last if self.backends["channels_last"] else torch.contiguous_format
        #: the π step size used (``pi_lr: auto`` resolved for this training set)
        self.pi_lr = resolve_pi_lr(config.pi_lr, n, config.batch_size, config.epochs)
        self.model = self.model.to(memory_format=self.memory_format)
        # what the steps call; shares its parameters with self.model (whose state dict is saved)
        self.network = compiled(self.model, config.compile)
        if config.method == "adamw":
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay, eps=config.adam_eps,
                                               fused=fused_adam(self.model.parameters()))
        else:
            self.optimizer = ALSO.from_config(self.model.parameters(), n, config, device=self.device)
        self.epoch = 0
        self.record = RunRecord()
        self.name = name or f"{config.method}/seed{config.seed}"
        self.stop_requested = False          # set by a SIGTERM handler: checkpoint, then stop
        #: where the run is, for a stall watchdog (alsofilter.training.watchdog) and error messages
        self.progress = Progress()
        self._partial: EpochState | None = None    # an epoch interrupted by a stop request
        #: how this run was resumed from a checkpoint (None: started fresh); goes into provenance
        self.resumed: dict | None = None

    @property
    def is_also(self) -> bool:
        return isinstance(self.optimizer, ALSO)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self) -> dict[str, torch.Tensor] | None:
        """One pass over the training set; returns device tensors ``loss``, ``pred`` and ``margin``
        (N,), or ``None`` when :attr:`stop_requested` interrupted it (its state is kept in
        ``self._partial`` and goes into the next checkpoint)."""
        cfg = self.config
        self.model.train()
        if self._partial is None:
            self._partial = EpochState.start(self.num_samples, self.device, self.generator)
        epoch = self._partial
        chunks = batches(epoch.perm, cfg.batch_size)
        self.progress.enter("training", len(chunks))
        for step in range(epoch.position, len(chunks)):
            if self.stop_requested:
                epoch.position = step
                return None
            self.progress.at(step + 1)
            idx = chunks[step]
            xb = self.normalize(augment_batch(self.x_train[idx], cfg.crop_padding, cfg.flip, self.generator))
            yb = self.y_train[idx]
            ce, logits, finite = self.optimizer_step(idx, xb, yb)
            epoch.record(step, idx, ce, logits, yb, finite)
            self.progress.batch_done()
        self._partial = None
        epoch.raise_if_diverged(f"run {self.name}: non-finite loss or ALSO weights at epoch {self.epoch + 1}",
                                len(chunks))
        return epoch.signals()

    def optimizer_step(self, idx: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor):
        """One step of the optimizer on the batch of dataset indices ``idx`` (B,), normalised
        images ``xb`` and labels ``yb``; returns the per-sample losses (B,) and logits (B, C) of
        the forward pass at the step's starting point, detached, and a 0-d bool tensor: all of
        them finite (and π, for ALSO). No host synchronisation."""
        def closure():
            logits = self.forward(xb)
            return F.cross_entropy(logits, yb, reduction="none"), logits

        if self.is_also:
            ce, logits = self.optimizer.step(idx, closure)
            return ce, logits, torch.isfinite(ce).all() & torch.isfinite(self.optimizer.pi).all()
        self.optimizer.zero_grad(set_to_none=True)
        ce, logits = closure()
        ce.mean().backward()
        self.optimizer.step()
        return ce.detach(), logits.detach(), torch.isfinite(ce.detach()).all()

    def where(self) -> str:
        """Where the run is, for error messages: run name, epoch, phase and batch."""
        return (f"run {self.name}, epoch {self.epoch + 1} of {self.config.epochs}, "
                f"{self.progress.phase} batch {self.progress.step} of {self.progress.steps_in_phase}")

    @property
    def batches_done(self) -> int:
        """Batches finished so far, training and evaluation (what the stall watchdog watches)."""
        return self.progress.batches_done

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits in float32; in bf16 precision (``speed: fast``) the network runs under bf16 autocast."""
        x = x.contiguous(memory_format=self.memory_format)
        if self.backends["precision"] == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return self.network(x).float()
        return self.network(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eval-mode pass without augmentation over x uint8 (M, C, H, W) with labels y (M,):
        per-sample ``loss``, ``pred``, ``margin`` (M,) and ``proba`` (M, classes), softmax."""
        self.model.eval()
        losses, preds, margins, probas = [], [], [], []
        self.progress.enter("evaluation", -(-x.shape[0] // self.config.eval_batch_size))
        for start in range(0, x.shape[0], self.config.eval_batch_size):
            self.progress.at(start // self.config.eval_batch_size + 1)
            logits = self.forward(self.normalize(x[start:start + self.config.eval_batch_size]))
            yb = y[start:start + self.config.eval_batch_size]
            losses.append(F.cross_entropy(logits, yb, reduction="none"))
            preds.append(logits.argmax(1))
            margins.append(label_margin(logits, yb))
            probas.append(logits.float().softmax(1))
            self.progress.batch_done()
        return {"loss": torch.cat(losses), "pred": torch.cat(preds), "margin": torch.cat(margins),
                "proba": torch.cat(probas)}

    def run_epoch(self) -> dict | None:
        """Train one epoch, record its signals and history row; returns the row (``None``
        when a stop request interrupted the epoch)."""
        start = time.perf_counter()
        out = self.train_epoch()
        if out is None:
            return None
        if self.config.loss_source == "eval":
            out.update({k: v for k, v in self.predict(self.x_train, self.y_train).items() if k != "proba"})
        test_acc = np.nan
        if self.x_test is not None:
            test_pred = self.predict(self.x_test, self.y_test)["pred"]
            test_acc = (test_pred == self.y_test).float().mean()
        # the epoch's signals reach the host here, once each (the steps never wait for it)
        loss = out["loss"].cpu().numpy().astype(np.float32)
        pred = out["pred"].cpu().numpy().astype(np.int16)
        self.epoch += 1
        self.record.add("loss", loss)
        self.record.add("pred", pred)
        self.record.add("margin", out["margin"].cpu().numpy().astype(np.float32))
        if self.is_also:
            self.record.add("weight", self.optimizer.pi.detach().cpu().numpy().astype(np.float32))
        row = {"epoch": self.epoch, "train_loss": float(loss.mean()),
               "train_acc": float(np.mean(pred == self.noisy_labels)),
               "test_acc": float(test_acc)}
        row.update(memorization_fractions(pred, self.true_labels, self.noisy_labels))
        row["seconds"] = time.perf_counter() - start
        self.record.history.append(row)
        return row

    def fit(self, progress: bool = True, on_epoch: Callable[[dict], None] | None = None,
            checkpoint: "str | os.PathLike | None" = None, checkpoint_every: int = 1) -> RunRecord | None:
        """Train until ``config.epochs`` epochs are done; returns the record.

        With ``checkpoint`` set, the state is written there (atomically) every
        ``checkpoint_every`` epochs, and also when :attr:`stop_requested` is set (e.g. by a
        SIGTERM handler), in which case ``fit`` returns ``None`` after writing it.
        """
        from tqdm.auto import tqdm

        bar = tqdm(total=self.config.epochs, initial=self.epoch, desc=self.name,
                   unit="epoch", disable=not progress, leave=True)
        try:
            while self.epoch < self.config.epochs:
                row = self.run_epoch()
                if row is None:
                    if checkpoint is not None:
                        self.save_checkpoint(checkpoint)
                    return None
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_acc=f"{row['test_acc']:.3f}")
                bar.update(1)
                if on_epoch is not None:
                    on_epoch(row)
                if checkpoint is not None and (self.epoch % checkpoint_every == 0
                                               or self.stop_requested):
                    self.save_checkpoint(checkpoint)
                if self.stop_requested and self.epoch < self.config.epochs:
                    return None
        finally:
            bar.close()
        return self.record

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically: model, optimizer (π and both Adam
        states for ALSO), RNG states (Python, NumPy, torch, the run's generator), the epoch,
        an interrupted epoch's progress, and the signals recorded so far. Only tensors and
        plain Python values, so it loads with ``torch.load(..., weights_only=True)``."""
        np_state = np.random.get_state()
        return {
            "settings": dataclasses.asdict(self.config),
            "device_type": self.device.type,
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "numpy_rng": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
            "partial": self._partial.as_dict() if self._partial is not None else None,
            "record": {k: [torch.from_numpy(a) for a in v] for k, v in self.record.arrays.items()},
            "history": self.record.history,
        }

    def load_state_dict(self, state: dict) -> None:
        saved = state["settings"]
        current = dataclasses.asdict(self.config)
        differ = {k: (saved.get(k), v) for k, v in current.items() if k not in ("device",) and saved.get(k) != v}
        if differ:
            raise ValueError(f"checkpoint was written with other settings: {differ} (saved, current)")
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])   # both move their tensors to our device
        self.resumed = {"epoch": self.epoch, "from_device": state.get("device_type", "unknown"),
                        "generator": "restored"}
        try:
            if state.get("device_type", self.device.type) != self.device.type:
                raise RuntimeError("generator state of another device kind")
            self.generator.set_state(state["generator"].cpu())
        except RuntimeError:
            # A CPU and a CUDA generator's states differ in kind and size: start this device's
            # generator from a seed derived from the run's seed and position instead (deterministic,
            # but not the stream an uninterrupted run would have drawn; recorded in provenance).
            step = int(state["partial"]["position"]) if state.get("partial") else 0
            reseed = resume_seed(self.config.seed, self.epoch, step)
            self.generator.manual_seed(reseed)
            self.resumed["generator"] = f"re-seeded with {reseed} (checkpoint from {self.resumed['from_device']})"
        torch.set_rng_state(state["torch_rng"].cpu())
        random.setstate(_to_tuple(state["python_rng"]))
        kind, key, *rest = state["numpy_rng"]
        np.random.set_state((kind, key.numpy().astype(np.uint32), int(rest[0]), int(rest[1]), float(rest[2])))
        partial = state["partial"]
        self._partial = EpochState.from_dict(partial, self.device) if partial is not None else None
        self.record = RunRecord({k: [t.cpu().numpy() for t in v] for k, v in state["record"].items()},
                                list(state["history"]))

    def save_checkpoint(self, path) -> None:
        """Write :meth:`state_dict` atomically (temporary file, then rename)."""
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)

    def load_checkpoint(self, path) -> None:
        """Resume from ``path``. Raises :class:`UnreadableCheckpoint` when the file cannot be
        read (corrupt, truncated, another format) and ValueError when it was written with other
        settings; a checkpoint from another device kind resumes (see :meth:`load_state_dict`)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or "model" not in state or "settings" not in state:
                raise ValueError("not a training checkpoint of this pipeline")
        except Exception as exc:   # torch.load raises many kinds; its text may advise unsafe loading
            raise UnreadableCheckpoint(f"{path}: {type(exc).__name__}") from None
        self.load_state_dict(state)


def label_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Margin of each sample (Pleiss et al. 2020): the logit of its given label minus the largest
    other logit. logits (B, C) raw, labels (B,) int; returns (B,) float, detached. Negative = the
    network prefers another class."""
    logits = logits.detach().float()
    given = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return given - others


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def set_determinism(enabled: bool, device: torch.device) -> None:
    """Deterministic kernels on CUDA (slower; CPU runs are deterministic anyway)."""
    if not enabled:
        return
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)


class DivergenceError(RuntimeError):
    """Training produced non-finite numbers."""


class UnreadableCheckpoint(ValueError):
    """A checkpoint file that cannot be read: corrupt, truncated, or not this pipeline's."""


def resume_seed(seed: int, epoch: int, step: int) -> int:
    """The generator seed of a run resumed at (``epoch``, ``step``) on another device kind."""
    return (int(seed) * 1_000_003 + int(epoch) * 10_007 + int(step)) % 2**63
