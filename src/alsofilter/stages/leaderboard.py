"""Stage ``leaderboard`` (rule ``leaderboard``): every detector on the same noise files, with its
cost (:mod:`alsofilter.reporting.leaderboard`)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.detectors.metrics import DECISION_THRESHOLD
from alsofilter.detectors.signals import suspicion_score
from alsofilter.logs import setup_logging
from alsofilter.names import crossval_label, score_label
from alsofilter.reporting.leaderboard import (STOPPED_SIGNAL, crossval_detections, detection_classifier,
                                              early_stop_epoch, plot_leaderboard, run_detections, write_leaderboard)


def run_samples(signals_npz, mixture_npz, method: str, stop: int | None = None
                ) -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """Per score of one run (each fitted signal): ``(is_noisy, score, {"BMM": flagged, "GMM":
    flagged})``, (N,) arrays at the last epoch, named as in the leaderboard; with ``stop``
    (1-based), also the AdamW loss at that epoch
    (:data:`~alsofilter.reporting.leaderboard.STOPPED_SIGNAL`)."""
    with np.load(signals_npz) as s, np.load(mixture_npz) as m:
        record, mixture = dict(s), dict(m)
    is_noisy = np.asarray(record["is_noisy"], dtype=bool)
    out = {}
    reads = [(signal, signal, -1) for signal in sorted({key.split("/")[0] for key in mixture})]
    if stop is not None and f"{STOPPED_SIGNAL[1]}/posterior" in mixture:
        reads.append((STOPPED_SIGNAL[2], STOPPED_SIGNAL[1], stop - 1))
    for name, signal, epoch in reads:
        score = suspicion_score(signal, record)[epoch]
        flags = {"BMM": mixture[f"{signal}/posterior"][epoch] > DECISION_THRESHOLD}
        if f"{signal}/gmm_posterior" in mixture:
            flags["GMM"] = mixture[f"{signal}/gmm_posterior"][epoch] > DECISION_THRESHOLD
        out[score_label(method, name)] = (is_noisy, score, flags)
    return out


def crossval_samples(detection_npz) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(is_noisy, score, {"cleanlab": flagged})`` of a cross-validated detector's detection.npz."""
    with np.load(detection_npz) as d:
        return (np.asarray(d["is_noisy"], bool), np.asarray(d["score"], np.float64),
                {"cleanlab": np.asarray(d["flagged"], bool)})


def leaderboard_files(runs: Sequence[Mapping], metrics_paths, train_benchmarks, crossval: Mapping,
                      folds: int, out_csv, out_md, out_png, out_pdf, signals_paths: Sequence | None = None,
                      mixture_paths: Sequence | None = None, out_paired=None,
                      history_paths: Sequence | None = None) -> pd.DataFrame:
    """The leaderboard stage: ``runs`` with their metrics.csv and train benchmark (same order);
    ``crossval``: detector → list of ``(scenario_key, metrics_csv, [benchmark files])``, its
    detection.npz beside the metrics. With the runs' ``signals_paths`` and ``mixture_paths``,
    every detector is also compared, paired, with the paper's method and the best detector
    (verdict columns; every comparison in ``out_paired``). With the runs' ``history_paths``, the
    AdamW loss is also read at an epoch chosen without clean labels
    (:mod:`alsofilter.detectors.early_stopping`)."""
    histories = list(history_paths) if history_paths is not None else [None] * len(runs)
    frames = [run_detections(r, m, b, h) for r, m, b, h in zip(runs, metrics_paths, train_benchmarks, histories)]
    for detector, items in crossval.items():
        frames += [crossval_detections(scen, detector, m, b, folds) for scen, m, b in items]
    samples = None
    if signals_paths is not None and mixture_paths is not None:
        samples = {}
        for run, s, m, metrics_csv, h in zip(runs, signals_paths, mixture_paths, metrics_paths, histories, strict=True):
            key = (*(run[k] for k in SCENARIO_KEYS), run["seed"])
            stop = (early_stop_epoch(pd.read_csv(metrics_csv), pd.read_csv(h))
                    if h is not None and run["method"] == STOPPED_SIGNAL[0] else None)
            samples.setdefault(key, {}).update(run_samples(s, m, run["method"], stop))
        for detector, items in crossval.items():
            for scen, metrics_csv, _ in items:
                key = (*(scen[k] for k in SCENARIO_KEYS), scen["seed"])
                label = crossval_label(detector, folds, detection_classifier(metrics_csv))
                samples.setdefault(key, {})[label] = crossval_samples(
                    Path(metrics_csv).with_name("detection.npz"))
    table = write_leaderboard(pd.concat(frames, ignore_index=True), out_csv, out_md, samples, out_paired)
    plot_leaderboard(table, [out_png, out_pdf])
    return table


def rule_leaderboard(smk) -> None:
    """Rule ``leaderboard``."""
    setup_logging(smk.log[0])
    leaderboard_files(smk.params.runs, smk.input.metrics, smk.input.train_benchmarks, smk.params.crossval,
                      smk.params.folds, smk.output.csv, smk.output.md, smk.output.png, smk.output.pdf,
                      signals_paths=smk.input.signals, mixture_paths=smk.input.mixtures, out_paired=smk.output.paired,
                      history_paths=smk.input.histories)
