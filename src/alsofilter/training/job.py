"""One training job of the pipeline: labels in, signals out, resumable.

The job checkpoints every ``checkpoint_every`` epochs to a file that is not a rule output, so a
killed job (SIGKILL, node failure, preemption) started again resumes from its last checkpoint,
and on CPU finishes with outputs bit-identical to an uninterrupted run. SIGTERM (what SLURM sends
before its time limit) makes the job write a checkpoint at the current step and exit with status
143. The checkpoint is deleted once all outputs are written. A job that makes no progress for
``stall_timeout`` seconds writes every thread's stack to its log and exits with status 124
(:mod:`alsofilter.training.watchdog`), instead of hanging until Snakemake's or SLURM's limits.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from alsofilter.data.loading import load_pipeline_dataset

from alsofilter.io import atomic_path, write_json_atomic, write_text_atomic
from alsofilter.data.noise import read_noise_table
from alsofilter.training.devices import gpu_slot
from alsofilter.training.features import penultimate_features
from alsofilter.training.trainer import RunRecord, Trainer, TrainConfig, UnreadableCheckpoint
from alsofilter.training.watchdog import DEFAULT_STALL_TIMEOUT, StallWatchdog

log = logging.getLogger(__name__)

ENV_KEYS = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_GPUS", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE")
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


class StopRequested(SystemExit):
    """Raised after a SIGTERM checkpoint; exits the process with status 143."""

    def __init__(self):
        super().__init__(SIGTERM_EXIT_CODE)


def run_training_job(noise_csv, settings: Mapping[str, Any], *args, **kwargs):
    """Train one run (:func:`train_on_noise_file`), pinned to a GPU of its own where its device is
    ``cuda`` or ``auto`` on a machine with GPUs (:func:`alsofilter.training.devices.gpu_slot`; not
    for an explicit ``cuda:N``); device ``cuda`` without a visible GPU is a NoGPUError, ``auto``
    trains on the CPU. The slot goes into provenance (``gpu_slot``). Returns the trained
    :class:`~alsofilter.training.trainer.Trainer`."""
    device = str(dict(settings).get("device", TrainConfig.device))
    pin = device in ("auto", "cuda")
    with gpu_slot(required=device == "cuda") if pin else contextlib.nullcontext() as slot:
        if slot is not None:
            log.info("pinned to GPU %s (slot %d of %d per GPU)", slot["device"], slot["slot"], slot["jobs_per_gpu"])
        extra = {**dict(kwargs.pop("extra_provenance", None) or {}), "gpu_slot": slot}
        return train_on_noise_file(noise_csv, settings, *args, extra_provenance=extra, **kwargs)


def train_on_noise_file(noise_csv, settings: Mapping[str, Any], out_signals, out_history,
                        out_provenance, dataset: str, checkpoint=None, checkpoint_every: int = 1,
                        data_dir: str | None = None, threads: int = 1,
                        dataset_options: Mapping[str, Any] | None = None, name: str | None = None,
                        progress: bool = True, stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
                        log_path: str | None = None, train_index=None, data=None, train_labels=None,
                        extra_provenance: Mapping[str, Any] | None = None):
    """Train one run on the labels of ``noise_csv``; write ``signals.npz`` (see
    :func:`record_to_arrays`), ``history.csv`` and ``provenance.json``.

    ``stall_timeout``: seconds without a finished batch before the job dumps its stacks (to stderr
    and ``log_path``) and exits with status 124; 0 or None turns the watchdog off.

    ``train_index`` (sorted int array): train on these training samples only (cross-validation
    folds, a cleaned training set); the signals then cover these samples, in this order.
    ``train_labels`` (N,) int: train with these labels instead of the noise file's noisy labels
    (relabelled samples; entries outside ``train_index`` are ignored). ``data``: the dataset,
    already loaded (default: load it). ``extra_provenance`` goes into provenance.json.
    Returns the trained :class:`~alsofilter.training.trainer.Trainer`."""
    log.info("environment: %s", " ".join(f"{k}={os.environ.get(k, '')}" for k in ENV_KEYS))
    torch.set_num_threads(max(1, int(threads)))
    config = TrainConfig.from_dict(dict(settings))
    if data is None:
        data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    table = read_noise_table(noise_csv)
    if len(table) != data.x_train.shape[0]:
        raise ValueError(f"{noise_csv} has {len(table)} rows, dataset {dataset!r} has "
                         f"{data.x_train.shape[0]} training samples")
    true_labels, noisy_labels = table["true_label"].to_numpy(), table["noisy_label"].to_numpy()
    if train_labels is not None:
        train_labels = np.asarray(train_labels, dtype=np.int64)
        if train_labels.shape != noisy_labels.shape:
            raise ValueError(f"train_labels has shape {train_labels.shape}, the noise file {noisy_labels.shape}")
        noisy_labels = train_labels
    if train_index is not None:
        train_index = np.asarray(train_index, dtype=np.int64)
        data = subset_training_set(data, train_index)
        true_labels, noisy_labels = true_labels[train_index], noisy_labels[train_index]
    start = time.time()
    trainer = Trainer(data, noisy_labels, true_labels, config, name=name)
    refused = None
    if checkpoint is not None and Path(checkpoint).exists():
        try:
            trainer.load_checkpoint(checkpoint)
            log.info("resumed from %s at epoch %d (generator %s)", checkpoint, trainer.epoch,
                     trainer.resumed["generator"])
        except (ValueError, RuntimeError, KeyError) as err:
            # unreadable, another configuration, or a state that does not fit: never blocks the run
            refused = refuse_checkpoint(checkpoint, err)
            trainer = Trainer(data, noisy_labels, true_labels, config, name=name)
    log.info("training %s on %s (%d samples, device %s)", trainer.name, dataset, len(true_labels), trainer.device)

    def on_sigterm(signum, frame):
        log.warning("SIGTERM received: writing a checkpoint and stopping")
        trainer.stop_requested = True

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    watchdog = StallWatchdog(stall_timeout, progress=lambda: trainer.batches_done, describe=trainer.where,
                             sinks=[log_path] if log_path else [])
    try:
        with watchdog:
            record = trainer.fit(progress=progress, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                                 on_epoch=lambda row: log.info("epoch %d: %s", row["epoch"], ", ".join(
                                     f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if record is None:
        log.warning("stopped at epoch %d; checkpoint %s; run again to resume", trainer.epoch, checkpoint)
        raise StopRequested()
    arrays = record_to_arrays(record, true_labels, noisy_labels)
    arrays.update(penultimate_features(trainer))     # once per run, for the knn detector
    with atomic_path(out_signals) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    write_text_atomic(out_history, history_frame(record).to_csv(index=False))
    write_json_atomic(out_provenance, provenance({
        "run": trainer.name, "settings": dict(settings), "dataset": dataset,
        "noise_file": str(noise_csv), "seed": config.seed, "device": str(trainer.device),
        "training_samples": int(len(true_labels)), "pi_lr_used": trainer.pi_lr,
        "torch_threads": torch.get_num_threads(), "wall_seconds": time.time() - start,
        "num_parameters": sum(p.numel() for p in trainer.model.parameters()),
        "resumed": trainer.resumed, "refused_checkpoint": refused, "backends": trainer.backends,
        **dict(extra_provenance or {})}))
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return trainer


def refuse_checkpoint(path, reason: Exception) -> dict[str, str]:
    """Move a checkpoint that cannot be resumed aside (``<name>.refused-<time>``) so the run starts
    fresh and every rerun does not fail on it again; log the file and the reason."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.refused-{time.strftime('%Y%m%dT%H%M%S')}")
    path.replace(aside)
    kind = "cannot be read" if isinstance(reason, UnreadableCheckpoint) else "does not fit this run"
    log.warning("checkpoint %s %s (%s); moved aside to %s, starting afresh", path, kind, reason, aside)
    return {"path": str(path), "moved_to": str(aside), "reason": f"{kind}: {reason}"}


def subset_training_set(data, index: np.ndarray):
    """The dataset with its training split cut to ``index`` (test split and statistics kept)."""
    files = None if data.file_names is None else [data.file_names[i] for i in index]
    return dataclasses.replace(data, x_train=data.x_train[index], y_train=data.y_train[index],
                               file_names=files)


def provenance(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Versions, host and git commit of the pipeline, for a run's provenance file."""
    md = importlib.metadata
    versions = {}
    for pkg in ("torch", "numpy", "scipy", "scikit-learn", "pandas", "snakemake", "alsofilter"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "host": platform.node(), "versions": versions, "git_commit": commit}
    info.update(extra or {})
    return info


def record_to_arrays(record: RunRecord, true_labels, noisy_labels) -> dict[str, np.ndarray]:
    """Arrays of a run's ``signals.npz``: ``loss``, ``margin`` (E, N) float32, ``pred`` (E, N) int16,
    ``weight`` (E, N) float32 for ALSO, ``true_label``/``noisy_label`` (N,) int64,
    ``is_noisy`` (N,) bool, ``epoch`` (E,) int."""
    arrays = record.stacked()
    arrays["true_label"] = np.asarray(true_labels, dtype=np.int64)
    arrays["noisy_label"] = np.asarray(noisy_labels, dtype=np.int64)
    arrays["is_noisy"] = arrays["true_label"] != arrays["noisy_label"]
    arrays["epoch"] = np.arange(1, len(record.history) + 1)
    return arrays


def history_frame(record: RunRecord) -> pd.DataFrame:
    """A run's ``history.csv``: one row per epoch (:meth:`Trainer.run_epoch`'s row)."""
    return pd.DataFrame(record.history)
