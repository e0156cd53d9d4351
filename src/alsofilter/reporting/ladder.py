"""The scale ladder: the same scenario on nested training sets of growing size (``ladder: true``).

Each *rung* is one dataset of the config, a stratified subset of one source
(``datasets.<name>.subset.train`` images); everything else is held fixed. Per rung the ladder
reads the detectors that answer the paper's question, :data:`LADDER_SIGNALS`: AdamW's loss (the
paper's baseline) and its mean over epochs, and π of every ALSO-min run (the paper's
extragradient and its variants), and reports

* per epoch: ROC-AUC, mean and range over seeds (:func:`auc_per_epoch`, :func:`plot_ladder`), with
  the paper's figure-3 values for the scenario marked (:data:`alsofilter.reporting.paper.PAPER_AUC`);
* per rung and detector (:func:`ladder_table`): final and best ROC-AUC and the epoch of the best,
  F1 and estimated noise rate of the BMM decision, clean test accuracy at the last epoch, the
  training job's wall seconds (Snakemake's benchmark), and each ALSO detector's paired ROC-AUC
  difference to AdamW's loss and to AdamW's mean loss with its 95 % interval and verdict (the
  leaderboard's paired comparison, :mod:`alsofilter.reporting.paired`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alsofilter.config.settings import base_method
from alsofilter.io import write_text_atomic
from alsofilter.names import score_label
from alsofilter.reporting.aggregate import delta_with_interval, mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import save_figure
from alsofilter.reporting.leaderboard import SCENARIO, paired_against_references
from alsofilter.reporting.paper import PAPER_AUC

#: per base method, the signals the ladder follows (in this order)
LADDER_SIGNALS: dict[str, tuple[str, ...]] = {"adamw": ("loss", "loss_mean"), "also-min": ("weight",)}
#: what every ALSO detector is compared with, per rung: role -> (method, signal)
REFERENCES: dict[str, tuple[str, str]] = {"adamw_loss": ("adamw", "loss"), "adamw_loss_mean": ("adamw", "loss_mean")}
#: the scenario keys other than the dataset: equal on every rung
FIXED = [k for k in SCENARIO if k != "dataset"]


def ladder_signals(method: str) -> tuple[str, ...]:
    """The signals the ladder follows for runs of ``method`` (a variant as its base method)."""
    return LADDER_SIGNALS.get(base_method(method), ())


def auc_per_epoch(runs: Sequence[Mapping], metrics: Sequence[pd.DataFrame], sizes: Mapping[str, int]) -> pd.DataFrame:
    """One row per (rung, method, signal, seed, epoch) of the ladder's signals: ``n_train``,
    ``method``, ``signal``, ``seed``, ``epoch``, ``auc``."""
    frames = []
    for run, table in zip(runs, metrics, strict=True):
        keep = table[table["signal"].isin(ladder_signals(run["method"]))]
        frames.append(keep[["signal", "epoch", "auc"]].assign(
            n_train=sizes[run["dataset"]], dataset=run["dataset"], method=run["method"], seed=run["seed"]))
    cols = ["n_train", "dataset", "method", "signal", "seed", "epoch", "auc"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def per_seed_rows(runs: Sequence[Mapping], metrics: Sequence[pd.DataFrame], histories: Sequence[pd.DataFrame],
                  seconds: Sequence[float], sizes: Mapping[str, int]) -> pd.DataFrame:
    """One row per (rung, method, signal, seed): final and best AUC, the epoch of the best, the BMM
    decision's F1 and noise-rate estimate and the true rate at the last epoch, clean test accuracy
    at the last epoch, the training job's seconds."""
    rows = []
    for run, table, history, secs in zip(runs, metrics, histories, seconds, strict=True):
        for signal in ladder_signals(run["method"]):
            part = table[table["signal"] == signal].sort_values("epoch")
            if part.empty:
                continue
            last, best = part.iloc[-1], part.loc[part["auc"].idxmax()]
            rows.append({"n_train": sizes[run["dataset"]], **{k: run[k] for k in SCENARIO}, "seed": run["seed"],
                         "method": run["method"], "signal": signal,
                         "detector": score_label(run["method"], signal),
                         "epochs": int(last["epoch"]), "auc_final": last["auc"], "auc_best": best["auc"],
                         "epoch_best": int(best["epoch"]), "f1": last["f1"], "noise_rate_est": last["noise_rate_est"],
                         "noise_rate_true": last["noise_rate_true"],
                         "test_acc_final": float(history.sort_values("epoch")["test_acc"].iloc[-1]),
                         "training_seconds": float(secs)})
    return pd.DataFrame(rows)


def ladder_references(runs: Sequence[Mapping]) -> dict[tuple, dict[str, str]]:
    """Per rung (scenario key): role -> reference detector (:data:`REFERENCES`)."""
    out = {}
    for run in runs:
        out[tuple(run[k] for k in SCENARIO)] = {role: score_label(m, s) for role, (m, s) in REFERENCES.items()}
    return out


VALUES = ["auc_final", "auc_best", "epoch_best", "f1", "noise_rate_est", "noise_rate_true", "test_acc_final"]


def ladder_table(rows: pd.DataFrame, paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (rung, detector) of :func:`per_seed_rows`, smallest rung first;
    with ``paired`` (:func:`~alsofilter.reporting.leaderboard.paired_against_references` rows with
    the roles of :data:`REFERENCES`), each ALSO detector's ROC-AUC difference to each reference:
    ``auc_vs_<role>``, ``…_low``, ``…_high``, ``verdict_vs_<role>``."""
    keys = ["n_train", *SCENARIO, "method", "signal", "detector"]
    table = mean_std_over_seeds(rows, keys, VALUES, means=["training_seconds", "epochs"])
    order = {m: i for i, m in enumerate(dict.fromkeys(rows["method"]))}
    table = table.sort_values(["n_train", "method", "signal"], key=lambda c: c.map(order) if c.name == "method" else c,
                              kind="stable").reset_index(drop=True)
    for role in REFERENCES:
        part = (paired[(paired["role"] == role) & (paired["metric"] == "auc")].set_index([*SCENARIO, "detector"])
                if paired is not None and len(paired) else None)
        also = table["method"].map(base_method) == "also-min"
        for column, source, empty in ((f"auc_vs_{role}", "delta", np.nan), (f"auc_vs_{role}_low", "low", np.nan),
                                      (f"auc_vs_{role}_high", "high", np.nan), (f"verdict_vs_{role}", "verdict", "")):
            values = []
            for is_also, key in zip(also, zip(*(table[c] for c in SCENARIO), table["detector"])):
                values.append(part[source].get(key, empty) if part is not None and is_also else empty)
            table[column] = values
    return table


def markdown(table: pd.DataFrame) -> str:
    """The ladder table as Markdown, one row per rung and detector."""
    lines = ["| training images | detector | seeds | ROC-AUC final | best (epoch) | F1 (BMM) | est. / true noise rate "
             "| clean test acc. | train s | vs AdamW loss | vs AdamW mean loss |",
             "|---:|---|---:|---|---|---|---|---|---:|---|---|"]
    for _, r in table.iterrows():
        versus = []
        for role in REFERENCES:
            d = delta_with_interval(r[f"auc_vs_{role}"], r[f"auc_vs_{role}_low"], r[f"auc_vs_{role}_high"])
            versus.append(f"{d} {r[f'verdict_vs_{role}']}".strip() if d != "–" else "–")
        lines.append(
            f"| {int(r['n_train']):,} | {score_label(r['method'], r['signal'])} | {int(r['seeds'])} "
            f"| {mean_pm_std(r['auc_final_mean'], r['auc_final_std'])} "
            f"| {r['auc_best_mean']:.3f} ({r['epoch_best_mean']:.3g}) "
            f"| {mean_pm_std(r['f1_mean'], r['f1_std'], 2)} "
            f"| {r['noise_rate_est_mean']:.2f} / {r['noise_rate_true_mean']:.2f} "
            f"| {mean_pm_std(r['test_acc_final_mean'], r['test_acc_final_std'])} "
            f"| {r['training_seconds']:,.0f} | {versus[0]} | {versus[1]} |")
    epochs = ", ".join(sorted({f"{e:g}" for e in table["epochs"]})) if len(table) else "–"
    lines += ["", f"Epochs: {epochs}. Mean ± std over seeds; 'vs' columns: the paired ROC-AUC difference at the last "
              "epoch (ALSO − AdamW) with its 95 % interval (bootstrap over samples within each seed, Student's t over "
              "seeds) and the verdict; one seed's interval covers the finite sample only, not seed-to-seed spread."]
    return "\n".join(lines) + "\n"


def paper_marks(scenario: Mapping) -> pd.DataFrame:
    """The paper's figure-3 values for ``scenario``'s arch, noise and rate (any CIFAR-10 ladder)."""
    sel = np.ones(len(PAPER_AUC), bool)
    for key in ("arch", "noise", "rate"):
        sel &= PAPER_AUC[key].to_numpy() == scenario[key]
    return PAPER_AUC[sel]


def plot_ladder(per_epoch: pd.DataFrame, out_paths, scenario: Mapping, marks: pd.DataFrame | None = None) -> None:
    """ROC-AUC per epoch: one panel per detector (AdamW loss, AdamW mean loss, each ALSO-min π),
    one colour per training-set size (mean over seeds, band: min..max), and the paper's values
    for the scenario (``marks``: rows of :data:`~alsofilter.reporting.paper.PAPER_AUC`)."""
    panels = list(dict.fromkeys(zip(per_epoch["method"], per_epoch["signal"])))
    sizes = sorted(per_epoch["n_train"].unique())
    colours = dict(zip(sizes, plt.cm.viridis(np.linspace(0.0, 0.85, max(len(sizes), 1)))))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), sharey=True, squeeze=False)
    last_epoch = int(per_epoch["epoch"].max()) if len(per_epoch) else 1
    for ax, (method, signal) in zip(axes[0], panels):
        part = per_epoch[(per_epoch["method"] == method) & (per_epoch["signal"] == signal)]
        for n in sizes:
            curve = part[part["n_train"] == n].groupby("epoch")["auc"].agg(["mean", "min", "max"])
            if curve.empty:
                continue
            seeds = part[part["n_train"] == n]["seed"].nunique()
            ax.plot(curve.index, curve["mean"], color=colours[n], lw=1.6,
                    label=f"{n:,} images" + (f" ({seeds} seeds)" if seeds > 1 else ""))
            if seeds > 1:
                ax.fill_between(curve.index, curve["min"], curve["max"], color=colours[n], alpha=0.2, lw=0)
        paper = marks[(marks["method"] == base_method(method)) & (marks["signal"] == signal)] if marks is not None else None
        for _, m in (paper.iterrows() if paper is not None else []):
            if m["epoch"] <= last_epoch:
                span = str(m["paper_epoch"]).replace("–", "-").split("-")
                lo, hi = float(span[0]), float(span[-1])
                ax.errorbar([m["epoch"]], [m["value"]], xerr=[[m["epoch"] - lo], [hi - m["epoch"]]], fmt="k*",
                            ms=8, capsize=3, label=f"paper: {m['paper_text']}")
            elif m["statistic"] == "final" and base_method(method) == "also-min":
                ax.axhline(m["value"], color="k", ls="--", lw=1, label=f"paper: {m['paper_text']} (ep {m['paper_epoch']})")
            else:
                ax.annotate(f"paper: {m['paper_text']} →", xy=(last_epoch, m["value"]), xytext=(0.98, m["value"]),
                            textcoords=("axes fraction", "data"), ha="right", va="center", fontsize=7)
                ax.plot([last_epoch], [m["value"]], "k>", ms=6)
        ax.set_title(score_label(method, signal), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    # the axis fitted to the curves, with room for the paper's values (a line drawn at 0.977 does
    # not widen the axis by itself)
    values = list(per_epoch["auc"].dropna()) + (list(marks["value"]) if marks is not None else [])
    if values:
        axes[0][0].set_ylim(max(0.0, min(values) - 0.03), min(1.0, max(values) + 0.02))
    axes[0][0].set_ylabel("ROC-AUC, noisy vs clean")
    fig.suptitle(f"Scale ladder: {scenario['arch']} · {scenario['noise']} {float(scenario['rate']):g}, "
                 "by training-set size", fontsize=11)
    fig.tight_layout()
    save_figure(fig, out_paths)


def write_ladder(runs: Sequence[Mapping], sizes: Mapping[str, int], metrics: Sequence[pd.DataFrame],
                 histories: Sequence[pd.DataFrame], seconds: Sequence[float], samples: Mapping | None,
                 out_csv, out_md, out_png, out_pdf) -> pd.DataFrame:
    """The ladder's table (CSV, Markdown) and figure (PNG, PDF) of ``runs`` that form a ladder
    (:func:`alsofilter.config.ladder_sizes` checks the config); ``samples`` as for
    :func:`~alsofilter.reporting.leaderboard.paired_against_references` (None: no paired columns)."""
    rows = per_seed_rows(runs, metrics, histories, seconds, sizes)
    paired = (paired_against_references(None, samples, references=ladder_references(runs))
              if samples is not None else None)
    table = ladder_table(rows, paired)
    with open(out_csv, "w") as fh:   # small; written whole
        table.to_csv(fh, index=False)
    write_text_atomic(out_md, markdown(table))
    scenario = {k: runs[0][k] for k in FIXED}
    plot_ladder(auc_per_epoch(runs, metrics, sizes), [out_png, out_pdf], scenario, paper_marks(scenario))
    return table
