"""Does filtering help? The downstream table and figure.

For each (scenario, seed), each detector's cleaned training set (:mod:`alsofilter.detectors.decisions`)
was retrained on with the AdamW baseline's recipe (:mod:`alsofilter.stages.downstream`). Per scenario,
detector and mode, mean ± std over seeds:

* ``kept``: fraction of the training samples trained on (1 in relabel mode);
* ``kept_correct``: fraction of the labels trained on that are the true labels;
* ``final_acc`` / ``best_acc``: clean test accuracy at the last epoch / its best epoch (best is
  an optimistic figure: choosing the epoch needs clean data a user does not have);
* ``gap_to_oracle``: ``final_acc`` minus the oracle's of the same mode (≤ 0 when the oracle is the
  ceiling it should be), ``gain_over_none``: ``final_acc`` minus no filtering's;
* ``training_seconds``: wall seconds of the training job per seed (Snakemake benchmark).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

import matplotlib.pyplot as plt

from alsofilter.data.noise import read_noise_table
from alsofilter.detectors.decisions import parse_detector, read_cleaned_labels, training_set
from alsofilter.reporting.aggregate import mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import save_figure, scenario_title
from alsofilter.reporting.leaderboard import SCENARIO, benchmark_seconds

VALUES = ["kept", "kept_correct", "final_acc", "best_acc"]
MODE_COLORS = {"drop": "tab:blue", "relabel": "tab:orange"}


def variant_row(scenario: Mapping, detector: str, mode: str, cleaned_csv, history_csv, noise_csv,
                benchmarks: Sequence = ()) -> dict:
    """One (scenario, seed, detector, mode): what was kept and how the retrained model did."""
    index, labels = training_set(read_cleaned_labels(cleaned_csv))
    true = read_noise_table(noise_csv)["true_label"].to_numpy()
    if len(labels) != len(true):
        raise ValueError(f"{cleaned_csv} has {len(labels)} samples, {noise_csv} {len(true)}")
    history = pd.read_csv(history_csv)
    acc = history["test_acc"].to_numpy(dtype=float) if "test_acc" in history else np.array([])
    return {**{k: scenario[k] for k in SCENARIO + ["seed"]},
            "detector": detector, "label": parse_detector(detector).label,
            "mode": "-" if detector == "none" else mode,
            "kept": len(index) / len(labels),
            "kept_correct": float(np.mean(labels[index] == true[index])) if len(index) else np.nan,
            "final_acc": acc[-1] if acc.size else np.nan,
            "best_acc": np.nanmax(acc) if acc.size and np.isfinite(acc).any() else np.nan,
            "epochs": int(acc.size),
            "training_seconds": benchmark_seconds(benchmarks) if benchmarks else np.nan}


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (scenario, detector, mode), with the gaps to the oracle of the
    same mode and to no filtering; sorted by final accuracy within a scenario."""
    keys = SCENARIO + ["detector", "label", "mode"]
    table = mean_std_over_seeds(rows, keys, VALUES, means=["training_seconds"])
    gaps, gains = [], []
    for _, r in table.iterrows():
        same = table[(table[SCENARIO] == r[SCENARIO]).all(axis=1)]
        oracle = same[(same["detector"] == "oracle") & (same["mode"] == (r["mode"] if r["mode"] != "-" else "drop"))]
        none = same[same["detector"] == "none"]
        gaps.append(r["final_acc_mean"] - oracle["final_acc_mean"].iloc[0] if len(oracle) else np.nan)
        gains.append(r["final_acc_mean"] - none["final_acc_mean"].iloc[0] if len(none) else np.nan)
    table["gap_to_oracle"] = gaps
    table["gain_over_none"] = gains
    return table.sort_values(SCENARIO + ["final_acc_mean"], ascending=[True] * len(SCENARIO) + [False],
                             kind="stable", na_position="last").reset_index(drop=True)


def _signed(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:+.3f}"


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per scenario, and per scenario one sentence: which detectors beat no
    filtering, or that none does."""
    parts = ["# Downstream: clean test accuracy after retraining on each detector's cleaned labels",
             "", "AdamW, the baseline's architecture, epochs, augmentation and seed, trained from scratch on "
             "the samples each decision keeps (drop) or with flagged samples relabelled to the detector's "
             "prediction (relabel). Mean ± std over seeds. Best = best epoch (optimistic: picking it needs "
             "clean data).", ""]
    for scen, rows in table.groupby(SCENARIO, sort=False):
        dataset, arch, noise, rate = scen
        parts += [f"## {dataset}, {arch}, {noise} {rate:g} ({int(rows['seeds'].max())} seeds)", "",
                  "| detector | mode | kept | kept labels correct | final test acc | best test acc "
                  "| vs no filtering | vs oracle | seconds |",
                  "|---|---|---|---|---|---|---:|---:|---:|"]
        for _, r in rows.iterrows():
            name = f"*{r['label']}*" if r["detector"] in ("none", "oracle") else r["label"]
            parts.append(f"| {name} | {r['mode']} | " + " | ".join(mean_pm_std(r[f"{v}_mean"], r[f"{v}_std"]) for v in VALUES)
                         + f" | {_signed(r['gain_over_none'])} | {_signed(r['gap_to_oracle'])} "
                         f"| {r['training_seconds']:.0f} |")
        detectors = rows[~rows["detector"].isin(["none", "oracle"])]
        better = detectors[detectors["gain_over_none"] > 0]
        if len(detectors) and better.empty:
            parts += ["", "No detector beats no filtering here."]
        elif len(better):
            parts += ["", f"{len(better)} of {len(detectors)} (detector, mode) pairs beat no filtering; best: "
                      f"{better.iloc[0]['label']} ({better.iloc[0]['mode']}), "
                      f"{_signed(better.iloc[0]['gain_over_none'])}."]
        parts.append("")
    return "\n".join(parts)


def plot_downstream(table: pd.DataFrame, out_paths) -> None:
    """One panel per scenario: final clean test accuracy (bar, ± std over seeds) of every
    detector, drop and relabel side by side; no filtering and the oracles as vertical lines."""
    scenarios = list(table.groupby(SCENARIO, sort=False))
    ncols = min(3, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    n_detectors = max(rows["detector"].nunique() for _, rows in scenarios)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, max(2.8, 0.5 * n_detectors + 1.8) * nrows),
                             squeeze=False)
    for ax, (scen, rows) in zip(axes.flat, scenarios):
        refs = rows[rows["detector"].isin(["none", "oracle"])]
        rows = rows[~rows["detector"].isin(["none", "oracle"])]
        labels = list(dict.fromkeys(rows.sort_values("final_acc_mean", kind="stable")["label"]))
        modes = [m for m in MODE_COLORS if m in set(rows["mode"])] or ["drop"]
        height = 0.8 / len(modes)
        for k, mode in enumerate(modes):
            part = rows[rows["mode"] == mode].set_index("label").reindex(labels)
            y = np.arange(len(labels)) + (k - (len(modes) - 1) / 2) * height
            ax.barh(y, part["final_acc_mean"], height=height, xerr=part["final_acc_std"].fillna(0),
                    color=MODE_COLORS[mode], alpha=0.85, capsize=2, label=mode)
        styles = {("none", "-"): ("k", "-", "no filtering"), ("oracle", "drop"): ("tab:green", "--", "oracle, drop"),
                  ("oracle", "relabel"): ("tab:green", ":", "oracle, relabel")}
        for _, r in refs.iterrows():
            color, ls, name = styles[(r["detector"], r["mode"])]
            ax.axvline(r["final_acc_mean"], color=color, ls=ls, lw=1.2, label=name)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        for tick in ax.get_yticklabels():   # the paper's method in bold, as in the leaderboard
            tick.set_fontweight("bold" if tick.get_text().startswith("ALSO-min π") else "normal")
        ax.set_xlim(0, 1)
        ax.set_xlabel("clean test accuracy after retraining, final epoch")
        ax.set_title(scenario_title(*scen), fontsize=10)
    for ax in axes.flat[len(scenarios):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.1 if nrows == 1 else 0.04, 1, 1))
    save_figure(fig, out_paths)


