"""The pipeline's stages as plain functions: files in, files out (what the Snakemake scripts call).

Every output is written atomically (temporary file in the same directory, then rename), so an
interrupted stage never leaves a half-written file that looks complete.
"""
from __future__ import annotations

import logging
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .io import atomic_path, write_json_atomic, write_text_atomic
from .metrics import DECISION_THRESHOLD, metrics_per_epoch
from .noise import human_noise_table, is_human_noise, make_noisy_labels, write_noise_table
from .signals import available_signals, suspicion_score

log = logging.getLogger(__name__)


def load_pipeline_dataset(name: str, data_dir: str | None, options: Mapping[str, Any] | None = None):
    """Load the dataset that the config calls ``name``.

    ``options`` is :func:`alsofilter.config.dataset_spec`: ``format`` (default: ``name``), ``path``
    (the .npz file / image folder, or a CIFAR folder instead of ``data_dir``), ``download``
    (CIFAR: fetch with torchvision when the files are missing) and the loader's own options
    (``verify_md5``; digits' ``test_fraction``/``split_seed``). The pipeline's jobs get
    ``{"format": "prepared", "path": <the prepare_data stage's folder>}``.
    """
    from .data import download_cifar, load_dataset

    opts = dict(options or {})
    fmt = opts.pop("format", None) or name
    path = opts.pop("path", None)
    download = bool(opts.pop("download", False))
    if fmt in ("cifar10", "cifar100"):
        root = path or data_dir
        if download:
            download_cifar(root, fmt)
        data = load_dataset(fmt, data_dir=root, **opts)
    elif fmt in ("npz", "image_folder", "prepared"):
        if not path:
            raise ValueError(f"dataset {name!r} (format {fmt}) needs a path (config key datasets.{name}.path)")
        data = load_dataset(fmt, path=path, **opts)
    else:
        data = load_dataset(fmt, data_dir=data_dir, **opts)
    data.name = name
    return data


# ---------------------------------------------------------------------------------- noise
def make_noise_file(dataset: str, noise: str, rate: float, seed: int, out_csv, out_json,
                    data_dir: str | None = None, noise_options: Mapping[str, Any] | None = None,
                    dataset_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Noisy labels of one (dataset, noise, rate, seed): CSV ``index, true_label, noisy_label,
    is_noisy`` and a JSON sidecar with the settings and the realised noise rate."""
    noise_options = dict(noise_options or {})
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    fmt = (dataset_options or {}).get("format") or dataset
    prepared = {}
    if fmt == "prepared":   # the cache of the prepare_data stage: its source's format and subset
        from .data import prepared_metadata

        meta = prepared_metadata(dataset_options["path"])
        fmt = meta["format"]
        prepared = {"subset": meta.get("subset"), "source_sizes": meta.get("source_sizes"),
                    "source": meta.get("source")}
    if is_human_noise(noise) and data.source_index is not None:
        raise ValueError(f"dataset {dataset!r} is a subset (datasets.{dataset}.subset) and {noise} noise reads "
                         "labels for the full training set; human noise on a subset is not supported")
    if is_human_noise(noise):
        labels = noise_options.get("human_labels")
        key = noise_options.get("human_labels_key", "noise_options.human_labels")
        if not labels:
            raise ValueError(f"{noise} noise needs a label file: set config key {key}")
        table = human_noise_table(data.y_train, data.num_classes, noise, labels, dataset, what=key)
        rate = None
    else:
        pairs = noise_options.get("asymmetric_pairs")
        table = make_noisy_labels(data.y_train, data.num_classes, noise, rate, seed,
                                  fmt if fmt in ("digits", "cifar10", "cifar100") else dataset,
                                  include_true=noise_options.get("symmetric_include_true", True),
                                  asymmetric_mapping=noise_options.get("asymmetric_mapping", "standard"),
                                  fine_to_coarse=data.fine_to_coarse,
                                  custom_mapping=None if pairs is None else {int(a): int(b) for a, b in pairs})
    write_noise_table(table, out_csv)
    info = {"dataset": dataset, "format": fmt, "noise": noise, "rate": rate, "seed": seed,
            "num_samples": int(len(table)), "num_classes": int(data.num_classes),
            "realised_noise_rate": float(table["is_noisy"].mean()), "options": noise_options,
            "mapping": {str(k): int(v) for k, v in (table.attrs.get("mapping") or {}).items()},
            **prepared}
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


# ---------------------------------------------------------------------------------- mixture
def fit_mixture_file(signals_npz, out_npz, signals: Iterable[str], n_iter: int = 10,
                     lower: float = 5.0, upper: float = 95.0) -> list[str]:
    """Fit a BMM per epoch to every configured signal this run recorded. Writes, per signal
    ``s``: ``s/posterior`` (E, N) and ``s/alpha``, ``s/beta``, ``s/weight`` (E, 2) in component
    order [clean, noisy], ``s/lo``, ``s/hi``, ``s/ok`` (E,); and the DivideMix-style Gaussian
    mixture's decision (:mod:`alsofilter.gmm`) as ``s/gmm_posterior`` (E, N), ``s/gmm_ok`` (E,).
    Returns the fitted signal names."""
    from .bmm import fit_per_epoch      # scipy / scikit-learn: imported by the stages that fit
    from .gmm import gmm_per_epoch

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
        gmm = gmm_per_epoch(suspicion_score(name, record))
        out.update({f"{name}/gmm_{key}": value for key, value in gmm.items()})
    with atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return names


# ---------------------------------------------------------------------------------- metrics
#: decision metrics that metrics.csv also gives for the Gaussian mixture, with suffix ``_gmm``
GMM_DECISION_COLUMNS = ("precision", "recall", "f1", "noise_rate_est", "fit_ok")

def metrics_file(signals_npz, mixture_npz, out_csv) -> pd.DataFrame:
    """Per epoch and signal: ROC-AUC, AP, precision/recall/F1 of the BMM decision (posterior
    > 0.5), noise rates, and the same decision metrics of the Gaussian mixture (``*_gmm``)."""
    with np.load(signals_npz) as record, np.load(mixture_npz) as mixture:
        record, mixture = dict(record), dict(mixture)
    names = sorted({key.split("/")[0] for key in mixture})
    frames = []
    for name in names:
        score = suspicion_score(name, record)
        table = metrics_per_epoch(record["is_noisy"], score, mixture[f"{name}/posterior"],
                                  mixture[f"{name}/ok"], signal=name)
        if f"{name}/gmm_posterior" in mixture:
            gmm = metrics_per_epoch(record["is_noisy"], score, mixture[f"{name}/gmm_posterior"],
                                    mixture[f"{name}/gmm_ok"], signal=name)
            for col in GMM_DECISION_COLUMNS:
                table[f"{col}_gmm"] = gmm[col].to_numpy()
        frames.append(table)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["signal", "epoch", "auc", "ap", "precision", "recall", "f1",
                 "noise_rate_est", "noise_rate_true", "fit_ok"])
    write_text_atomic(out_csv, table.to_csv(index=False))
    return table


# ---------------------------------------------------------------------------------- ranking
RANKED_COLUMNS = ("rank", "index", "file_name", "given_label", "given_class", "predicted_label",
                  "predicted_class", "noise_probability", "signal", "score", "true_label", "is_noisy")


def primary_signal(method: str) -> str:
    """The method's own detector: ALSO's weight π, AdamW's per-sample loss."""
    return "weight" if method.startswith("also") else "loss"


def ranked_samples(record: Mapping[str, np.ndarray], mixture: Mapping[str, np.ndarray], method: str,
                   class_names=None, file_names=None, bmm: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The training samples of one run, most suspicious first (last epoch, primary signal).

    Columns :data:`RANKED_COLUMNS`: ``score`` is the raw signal (π for ALSO, the cross-entropy for
    AdamW), ``noise_probability`` the BMM's posterior of the noisy component (fitted here if the
    run's mixture file lacks the signal), ``given_label`` the label the model was trained on,
    ``true_label``/``is_noisy`` the labels before the *injected* noise (for one's own data with
    rate 0 they equal the given labels). Ties keep index order. ``noise_probability`` is at
    full precision here and rounded to 6 decimals in the CSV.
    """
    from .bmm import fit_per_epoch

    signal = primary_signal(method)
    if signal not in record:
        raise ValueError(f"the run recorded no {signal!r} (has {sorted(record)}); cannot rank its samples")
    suspicion = suspicion_score(signal, record)[-1]
    raw = np.asarray(record[signal], dtype=np.float64)[-1]
    if f"{signal}/posterior" in mixture:
        posterior = np.asarray(mixture[f"{signal}/posterior"])[-1]
    else:
        bmm = dict(bmm or {})
        posterior = fit_per_epoch(suspicion[None, :], n_iter=bmm.get("n_iter", 10),
                                  lower=bmm.get("lower_percentile", 5.0),
                                  upper=bmm.get("upper_percentile", 95.0))["posterior"][0]
    n = suspicion.shape[0]
    index = np.arange(n)
    order = np.lexsort((index, -suspicion))
    given = np.asarray(record["noisy_label"], dtype=np.int64)
    pred = np.asarray(record["pred"], dtype=np.int64)[-1]

    def names(labels):
        if class_names is None:
            return [""] * len(labels)
        return [class_names[c] if 0 <= c < len(class_names) else "" for c in labels.tolist()]

    files = np.asarray(file_names if file_names is not None else [""] * n, dtype=object)
    if files.shape[0] != n:
        raise ValueError(f"{files.shape[0]} file names for {n} training samples")
    table = pd.DataFrame({
        "rank": np.arange(1, n + 1),
        "index": index[order],
        "file_name": files[order],
        "given_label": given[order],
        "given_class": np.asarray(names(given), dtype=object)[order],
        "predicted_label": pred[order],
        "predicted_class": np.asarray(names(pred), dtype=object)[order],
        "noise_probability": np.asarray(posterior, dtype=np.float64)[order],
        "signal": signal,
        "score": raw[order],
        "true_label": np.asarray(record["true_label"], dtype=np.int64)[order],
        "is_noisy": np.asarray(record["is_noisy"], dtype=np.int64)[order],
    })
    return table


def pipeline_dataset_metadata(dataset: str, data_dir: str | None = None,
                              dataset_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``class_names`` and ``file_names`` of the dataset a job reads (see
    :func:`load_pipeline_dataset`), without decoding its images."""
    from .data import dataset_metadata

    spec = dict(dataset_options or {})
    fmt = spec.pop("format", None) or dataset
    path = spec.pop("path", None)
    if fmt in ("cifar10", "cifar100"):
        path = path or data_dir
    return dataset_metadata(fmt, path)


def rank_samples_file(signals_npz, mixture_npz, out_csv, method: str, dataset: str,
                      data_dir: str | None = None, dataset_options: Mapping[str, Any] | None = None,
                      bmm: Mapping[str, Any] | None = None, out_cleaned=None,
                      cleaned_mode: str = "drop") -> pd.DataFrame:
    """Write :func:`ranked_samples` of one run as CSV (file and class names from the dataset,
    read without decoding its images); with ``out_cleaned``, also the run's own decision
    (noise probability > 0.5) as ``cleaned_labels.csv`` (:mod:`alsofilter.cleaned_labels`) in
    ``cleaned_mode`` (``drop`` or ``relabel``)."""
    meta = pipeline_dataset_metadata(dataset, data_dir, dataset_options)
    with np.load(signals_npz) as record, np.load(mixture_npz) as mixture:
        record, mixture = dict(record), dict(mixture)
    table = ranked_samples(record, mixture, method, meta["class_names"], meta["file_names"], bmm)
    if out_cleaned is not None:   # the run's own decision (primary signal + BMM) as cleaned labels
        from .cleaned_labels import cleaned_labels

        by_index = table.sort_values("index")
        cleaned = cleaned_labels(by_index["given_label"], by_index["noise_probability"] > DECISION_THRESHOLD,
                                 by_index["predicted_label"], by_index["noise_probability"], cleaned_mode,
                                 by_index["file_name"])
        write_text_atomic(out_cleaned, cleaned.to_csv(index=False))
    table["noise_probability"] = table["noise_probability"].round(6)
    write_text_atomic(out_csv, table.to_csv(index=False))
    log.info("ranked %d samples of %s by %s; %d with noise probability > 0.5",
             len(table), dataset, table["signal"].iloc[0] if len(table) else "-",
             int((table["noise_probability"] > 0.5).sum()))
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
    """ROC-AUC per epoch; ``reference="paper"`` adds the paper's values (SPEC §7) where a
    scenario matches one of the paper's."""
    from .plots import plot_auc_curves

    if isinstance(reference, str) and reference == "paper":
        from .paper import reference_frame

        reference = reference_frame()
    plot_auc_curves(_with_keys(metrics_paths, runs), out_paths, reference=reference)


def paper_comparison_files(summary_csv, out_csv, out_md) -> pd.DataFrame:
    """Our final/peak ROC-AUC next to the paper's (SPEC §7), CSV and Markdown."""
    from .paper import comparison_markdown, comparison_table

    table = comparison_table(pd.read_csv(summary_csv))
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, comparison_markdown(table))
    return table


def auc_vs_rate_figure(summary_csv, out_paths) -> None:
    from .plots import plot_auc_vs_rate

    plot_auc_vs_rate(pd.read_csv(summary_csv), out_paths)


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
