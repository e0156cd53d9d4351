"""The leaderboard: every detector on the same noise files, scored the same way, with its cost.

A *detector* is a suspicion score plus a decision:

* from a training run: (method, signal) — e.g. ALSO-min's weight π, AdamW's loss, its running
  mean, its area under the margin — with the run's last epoch, and one of two decisions on the
  same score: the Beta mixture (``BMM``, the paper's) or DivideMix's Gaussian mixture (``GMM``);
* from cross-validation (:mod:`alsofilter.crossval`): cleanlab on the out-of-sample probabilities
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

import numpy as np
import pandas as pd

from .io import write_text_atomic

SCENARIO = ["dataset", "arch", "noise", "rate"]
SCORES = ["auc", "ap", "precision", "recall", "f1", "noise_rate_est"]
METHOD_LABELS = {"adamw": "AdamW", "also-min": "ALSO-min", "also-max": "ALSO-max"}
SIGNAL_LABELS = {"weight": "π", "loss": "loss", "loss_mean": "mean loss", "aum": "AUM"}
CROSSVAL_LABELS = {"cleanlab_network": "cleanlab, network {k}-fold CV",
                   "cleanlab_pixels": "cleanlab, pixel logistic regression {k}-fold CV"}
#: the paper's method, marked in every output
OURS = "ALSO-min π + BMM"


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
        name = f"{METHOD_LABELS.get(run['method'], run['method'])} {SIGNAL_LABELS.get(signal, signal)}"
        rows.append({**base, "detector": f"{name} + BMM", "decision": "BMM",
                     **{k: last[k] for k in ("precision", "recall", "f1", "noise_rate_est")}})
        if "f1_gmm" in last.index:
            rows.append({**base, "detector": f"{name} + GMM", "decision": "GMM",
                         **{k: last[f"{k}_gmm"] for k in ("precision", "recall", "f1", "noise_rate_est")}})
    return pd.DataFrame(rows)


def crossval_detections(scenario: Mapping, detector: str, metrics_csv, benchmarks: Sequence,
                        folds: int) -> pd.DataFrame:
    """The row of one cross-validated detector on one (scenario, seed)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    out = {k: scenario[k] for k in SCENARIO + ["seed"]}
    out.update(method="crossval", signal=detector, decision="cleanlab",
               detector=CROSSVAL_LABELS[detector].format(k=folds),
               training_jobs=folds if detector == "cleanlab_network" else 0,
               training_seconds=benchmark_seconds(benchmarks),
               **{k: row[k] for k in SCORES})
    return pd.DataFrame([out])


def aggregate(detections: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (scenario, detector), sorted by mean AUC within a scenario;
    ``training_seconds`` is the mean per seed; ``ours`` marks ALSO-min π + BMM."""
    keys = SCENARIO + ["detector", "method", "signal", "decision"]
    grouped = detections.groupby(keys, sort=False, dropna=False)
    table = grouped[SCORES].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table["training_jobs"] = grouped["training_jobs"].mean()
    table["training_seconds"] = grouped["training_seconds"].mean()
    table["seeds"] = grouped["seed"].nunique()
    table = table.reset_index()
    table["ours"] = table["detector"] == OURS
    table = table.sort_values(SCENARIO + ["auc_mean"], ascending=[True] * len(SCENARIO) + [False],
                              kind="stable").reset_index(drop=True)
    table.insert(len(SCENARIO), "rank", table.groupby(SCENARIO, sort=False).cumcount() + 1)
    return table


def mean_pm_std(mean: float, std: float) -> str:
    """``0.812 ± 0.010`` (the mean alone for one seed, ``–`` when undefined)."""
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.3f}" if not np.isfinite(std) else f"{mean:.3f} ± {std:.3f}"


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
    import matplotlib.pyplot as plt

    from .plots import save_figure, scenario_title

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


def leaderboard_files(runs: Sequence[Mapping], metrics_paths, train_benchmarks, crossval: Mapping,
                      folds: int, out_csv, out_md, out_png, out_pdf) -> pd.DataFrame:
    """The leaderboard stage: ``runs`` with their metrics.csv and train benchmark (same order);
    ``crossval``: detector → list of ``(scenario_key, metrics_csv, [benchmark files])``."""
    frames = [run_detections(r, m, b) for r, m, b in zip(runs, metrics_paths, train_benchmarks)]
    for detector, items in crossval.items():
        frames += [crossval_detections(scen, detector, m, b, folds) for scen, m, b in items]
    table = write_leaderboard(pd.concat(frames, ignore_index=True), out_csv, out_md)
    plot_leaderboard(table, [out_png, out_pdf])
    return table
