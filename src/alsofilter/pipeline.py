"""The pipeline's stages as plain functions: files in, files out (what the Snakemake scripts call).

Every output is written atomically (temporary file in the same directory, then rename), so an
interrupted stage never leaves a half-written file that looks complete.
"""
from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .bmm import fit_per_epoch
from .io import atomic_path, write_json_atomic, write_text_atomic
from .metrics import metrics_per_epoch
from .noise import make_noisy_labels, read_noise_table, write_noise_table
from .signals import available_signals, suspicion_score

log = logging.getLogger(__name__)


def load_pipeline_dataset(name: str, data_dir: str | None, options: Mapping[str, Any] | None = None):
    from .data import load_dataset

    return load_dataset(name, data_dir=data_dir, **dict(options or {}))


# ---------------------------------------------------------------------------------- noise
def make_noise_file(dataset: str, noise: str, rate: float, seed: int, out_csv, out_json,
                    data_dir: str | None = None, noise_options: Mapping[str, Any] | None = None,
                    dataset_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Noisy labels of one (dataset, noise, rate, seed): CSV ``index, true_label, noisy_label,
    is_noisy`` and a JSON sidecar with the settings and the realised noise rate."""
    noise_options = dict(noise_options or {})
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    table = make_noisy_labels(data.y_train, data.num_classes, noise, rate, seed, dataset,
                              include_true=noise_options.get("symmetric_include_true", True),
                              asymmetric_mapping=noise_options.get("asymmetric_mapping", "standard"),
                              fine_to_coarse=data.fine_to_coarse)
    write_noise_table(table, out_csv)
    info = {"dataset": dataset, "noise": noise, "rate": rate, "seed": seed,
            "num_samples": int(len(table)), "num_classes": int(data.num_classes),
            "realised_noise_rate": float(table["is_noisy"].mean()), "options": noise_options,
            "mapping": {str(k): int(v) for k, v in (table.attrs.get("mapping") or {}).items()}}
    write_json_atomic(out_json, info)
    return table


# ---------------------------------------------------------------------------------- train
def provenance(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Versions, host and git commit of the pipeline, for a run's provenance file."""
    import importlib.metadata as md

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


def train_run_files(noise_csv, settings: Mapping[str, Any], out_signals, out_history, out_provenance,
                    dataset: str, data_dir: str | None = None, threads: int = 1,
                    dataset_options: Mapping[str, Any] | None = None, progress: bool = True) -> None:
    """Train one run on the labels of ``noise_csv`` and write ``signals.npz``, ``history.csv``
    and ``provenance.json``."""
    import torch

    from .training import Trainer, TrainConfig, history_frame, record_to_arrays

    torch.set_num_threads(max(1, int(threads)))
    config = TrainConfig.from_dict(dict(settings))
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    table = read_noise_table(noise_csv)
    if len(table) != data.x_train.shape[0]:
        raise ValueError(f"{noise_csv} has {len(table)} rows, dataset {dataset!r} has "
                         f"{data.x_train.shape[0]} training samples")
    true_labels, noisy_labels = table["true_label"].to_numpy(), table["noisy_label"].to_numpy()
    start = time.time()
    trainer = Trainer(data, noisy_labels, true_labels, config)
    log.info("training %s on %s (%d samples, device %s)", config.method, dataset,
             len(table), trainer.device)

    def on_epoch(row):
        log.info("epoch %d: %s", row["epoch"], ", ".join(
            f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))

    record = trainer.fit(progress=progress, on_epoch=on_epoch)
    arrays = record_to_arrays(record, true_labels, noisy_labels)
    with atomic_path(out_signals) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    write_text_atomic(out_history, history_frame(record).to_csv(index=False))
    write_json_atomic(out_provenance, provenance({
        "settings": dict(settings), "dataset": dataset, "noise_file": str(noise_csv),
        "device": str(trainer.device), "wall_seconds": time.time() - start,
        "num_parameters": sum(p.numel() for p in trainer.model.parameters())}))


# ---------------------------------------------------------------------------------- mixture
def fit_mixture_file(signals_npz, out_npz, signals: Iterable[str], n_iter: int = 10,
                     lower: float = 5.0, upper: float = 95.0) -> list[str]:
    """Fit a BMM per epoch to every configured signal this run recorded. Writes, per signal
    ``s``: ``s/posterior`` (E, N) and ``s/alpha``, ``s/beta``, ``s/weight`` (E, 2) in component
    order [clean, noisy], ``s/lo``, ``s/hi``, ``s/ok`` (E,). Returns the fitted signal names."""
    with np.load(signals_npz) as record:
        record = dict(record)
    names = available_signals(record, list(signals))
    out = {}
    for name in names:
        fit = fit_per_epoch(suspicion_score(name, record), n_iter=n_iter, lower=lower, upper=upper)
        bad = np.flatnonzero(~fit["ok"])
        if bad.size:
            log.warning("signal %s: BMM degenerate at epochs %s (posterior set to 0)", name, (bad + 1).tolist())
        out.update({f"{name}/{key}": value for key, value in fit.items()})
    with atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return names


# ---------------------------------------------------------------------------------- metrics
def metrics_file(signals_npz, mixture_npz, out_csv) -> pd.DataFrame:
    """Per epoch and signal: ROC-AUC, AP, precision/recall/F1 at posterior 0.5, noise rates."""
    with np.load(signals_npz) as record, np.load(mixture_npz) as mixture:
        record, mixture = dict(record), dict(mixture)
    names = sorted({key.split("/")[0] for key in mixture})
    frames = [metrics_per_epoch(record["is_noisy"], suspicion_score(name, record),
                                mixture[f"{name}/posterior"], mixture[f"{name}/ok"], signal=name)
              for name in names]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["signal", "epoch", "auc", "ap", "precision", "recall", "f1",
                 "noise_rate_est", "noise_rate_true", "fit_ok"])
    write_text_atomic(out_csv, table.to_csv(index=False))
    return table


# ---------------------------------------------------------------------------------- report
def summary_tables(runs: list[Mapping[str, Any]], metrics_paths, history_paths, out_dir) -> pd.DataFrame:
    """summary.csv (one row per run and signal) and the seed-aggregated tables."""
    from .tables import build_summary, write_tables

    summary = build_summary(zip(runs, metrics_paths, history_paths))
    write_tables(summary, out_dir)
    return summary


def _with_keys(paths, runs, reader=pd.read_csv) -> pd.DataFrame:
    frames = []
    for path, run in zip(paths, runs):
        frame = reader(path)
        for key, value in run.items():
            frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def auc_figure(runs, metrics_paths, out_paths, reference=None) -> None:
    from .plots import plot_auc_curves

    plot_auc_curves(_with_keys(metrics_paths, runs), out_paths, reference=reference)


def memorization_figure(runs, history_paths, out_paths) -> None:
    from .plots import plot_memorization

    plot_memorization(_with_keys(history_paths, runs), out_paths)


def bmm_figure(runs, signals_paths, mixture_paths, metrics_paths, out_paths) -> None:
    from .plots import bmm_fit_panels, plot_bmm_fits

    items = [dict(run, signals_path=s, mixture_path=m, metrics_path=t)
             for run, s, m, t in zip(runs, signals_paths, mixture_paths, metrics_paths)]
    plot_bmm_fits(bmm_fit_panels(items), out_paths)


def setup_logging(log_path: str | None) -> None:
    """Log to the rule's log file (and stderr when there is none)."""
    handlers = [logging.FileHandler(log_path, mode="w")] if log_path else [logging.StreamHandler()]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def dump_json(obj) -> str:
    return json.dumps(obj, sort_keys=True)
