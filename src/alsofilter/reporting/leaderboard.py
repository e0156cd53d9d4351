"""The leaderboard: every detector on the same noise files, scored the same way, with its cost.

A *detector* is a suspicion score plus a decision:

* from a training run: (method, signal) — e.g. ALSO-min's weight π, AdamW's loss, its running
  mean, its area under the margin — with the run's last epoch, and one of two decisions on the
  same score: the Beta mixture (``BMM``, the paper's) or DivideMix's Gaussian mixture (``GMM``);
* from cross-validation (:mod:`alsofilter.detectors.confident_learning`): cleanlab on the out-of-sample probabilities
  of the network (``cleanlab_network``) or of a pixel classifier (``cleanlab_pixels``), with
  cleanlab's own decision.

Per scenario the table gives, mean ± std over seeds: ROC-AUC and average precision of the score,
precision / recall / F1 of the decision, and the cost — training jobs and their total seconds
(Snakemake's benchmark files: wall seconds of the ``train`` job, of the K ``crossval_fold`` jobs,
or of the pixel-classifier job).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.io import write_text_atomic
from alsofilter.names import OURS, crossval_label, detector_label
from alsofilter.reporting.aggregate import mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import save_figure, scenario_title

SCENARIO = list(SCENARIO_KEYS)
SCORES = ["auc", "ap", "precision", "recall", "f1", "noise_rate_est"]


def benchmark_seconds(paths: Iterable[str | Path]) -> float:
    """Sum of the wall seconds (column ``s``) of Snakemake benchmark files."""
    return float(sum(pd.read_csv(p, sep="\t")["s"].iloc[0] for p in paths))


def run_detections(run: Mapping, metrics_csv, train_benchmark) -> pd.DataFrame:
    """Rows of one training run: each signal at the last epoch, with the BMM and the GMM decision."""
    metrics = pd.read_csv(metrics_csv)
    seconds = benchmark_seconds([train_benchmark])
    rows = []
    for signal, table in metrics.groupby("signal", sort=False):
        last = table.loc[table["epoch"].idxmax()]
        base = {k: run[k] for k in SCENARIO + ["seed"]}
        base.update(method=run["method"], signal=signal, auc=last["auc"], ap=last["ap"],
                    training_jobs=1, training_seconds=seconds)
        rows.append({**base, "detector": detector_label(run["method"], signal, "bmm"), "decision": "BMM",
                     **{k: last[k] for k in ("precision", "recall", "f1", "noise_rate_est")}})
        if "f1_gmm" in last.index:
            rows.append({**base, "detector": detector_label(run["method"], signal, "gmm"), "decision": "GMM",
                         **{k: last[f"{k}_gmm"] for k in ("precision", "recall", "f1", "noise_rate_est")}})
    return pd.DataFrame(rows)


def crossval_detections(scenario: Mapping, detector: str, metrics_csv, benchmarks: Sequence,
                        folds: int) -> pd.DataFrame:
    """The row of one cross-validated detector on one (scenario, seed)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    out = {k: scenario[k] for k in SCENARIO + ["seed"]}
    out.update(method="crossval", signal=detector, decision="cleanlab",
               detector=crossval_label(detector, folds),
               training_jobs=folds if detector == "cleanlab_network" else 0,
               training_seconds=benchmark_seconds(benchmarks),
               **{k: row[k] for k in SCORES})
    return pd.DataFrame([out])


def aggregate(detections: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (scenario, detector), sorted by mean AUC within a scenario;
    ``training_seconds`` is the mean per seed; ``ours`` marks ALSO-min π + BMM."""
    keys = SCENARIO + ["detector", "method", "signal", "decision"]
    table = mean_std_over_seeds(detections, keys, SCORES, means=["training_jobs", "training_seconds"])
    table["ours"] = table["detector"] == OURS
    table = table.sort_values(SCENARIO + ["auc_mean"], ascending=[True] * len(SCENARIO) + [False],
                              kind="stable").reset_index(drop=True)
    table.insert(len(SCENARIO), "rank", table.groupby(SCENARIO, sort=False).cumcount() + 1)
    return table


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per scenario, the paper's method in bold."""
    parts = ["# Leaderboard: every detector on the same noise files (final epoch, mean ± std over seeds)",
             "", f"Sorted by ROC-AUC. **Bold**: the paper's method ({OURS}). Cost: training jobs of a "
             "network and their total wall seconds per seed (Snakemake benchmarks).", ""]
    for scen, rows in table.groupby(SCENARIO, sort=False):
        dataset, arch, noise, rate = scen
        parts += [f"## {dataset}, {arch}, {noise} {rate:g} ({int(rows['seeds'].max())} seeds)", "",
                  "| rank | detector | ROC-AUC | AP | precision | recall | F1 | est. noise rate | jobs | seconds |",
                  "|---:|---|---|---|---|---|---|---|---:|---:|"]
        for _, r in rows.iterrows():
            name = f"**{r['detector']}**" if r["ours"] else r["detector"]
            cells = [mean_pm_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in SCORES]
            parts.append(f"| {r['rank']} | {name} | " + " | ".join(cells)
                         + f" | {r['training_jobs']:g} | {r['training_seconds']:.0f} |")
        parts.append("")
    return "\n".join(parts)


def write_leaderboard(detections: pd.DataFrame, out_csv, out_md) -> pd.DataFrame:
    table = aggregate(detections)
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, markdown(table))
    return table


def plot_leaderboard(table: pd.DataFrame, out_paths) -> None:
    """One panel per scenario: ROC-AUC (bar, ± std over seeds) of every score, and F1 of its best
    decision (dot); ALSO-min's signals blue (its π, the paper's method, labelled in bold), AdamW's
    red, cleanlab green, ALSO-max grey."""
    colors = {"also-min": "tab:blue", "adamw": "tab:red", "crossval": "tab:green"}
    # AUC does not depend on the decision: one bar per score, F1 of its better decision
    scores = (table.sort_values("f1_mean", ascending=False, kind="stable")
              .groupby(SCENARIO + ["method", "signal"], sort=False).head(1))
    scenarios = list(scores.groupby(SCENARIO, sort=False))
    ncols = min(3, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    height = 0.32 * max(len(g) for _, g in scenarios) + 1.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, height * nrows), squeeze=False)
    for ax, (scen, rows) in zip(axes.flat, scenarios):
        rows = rows.sort_values("auc_mean", kind="stable")
        labels = [d.replace(" + BMM", "").replace(" + GMM", "") for d in rows["detector"]]
        y = np.arange(len(rows))
        ax.barh(y, rows["auc_mean"], xerr=rows["auc_std"].fillna(0),
                color=[colors.get(m, "0.6") for m in rows["method"]], alpha=0.85, capsize=2)
        ax.plot(rows["f1_mean"], y, "k.", label="F1 of the decision")
        ax.set_yticks(y, labels, fontsize=8)
        for tick, ours in zip(ax.get_yticklabels(), rows["detector"].str.startswith("ALSO-min π")):
            tick.set_fontweight("bold" if ours else "normal")
        ax.axvline(0.5, color="0.3", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_xlabel("ROC-AUC (bar) / F1 (dot), final epoch")
        ax.set_title(scenario_title(*scen), fontsize=10)
    for ax in axes.flat[len(scenarios):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_paths)


