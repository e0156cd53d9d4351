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
from alsofilter.detectors.early_stopping import stop_epoch
from alsofilter.io import write_text_atomic
from alsofilter.names import OURS, crossval_label, detector_label
from alsofilter.reporting.aggregate import delta_with_interval, mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import save_figure, scenario_title
from alsofilter.reporting.paired import (DEFAULT_BOOTSTRAP, bootstrap_metrics, bootstrap_size, paired_comparisons,
                                         resample_indices)

SCENARIO = list(SCENARIO_KEYS)
SCORES = ["auc", "ap", "precision", "recall", "f1", "noise_rate_est", "precision_at_noise_rate"]
#: the reference detectors every detector is compared with, per scenario
ROLES = {"ours": "the paper's method", "best": "the best detector by ROC-AUC"}


def benchmark_seconds(paths: Iterable[str | Path]) -> float:
    """Sum of the wall seconds (column ``s``) of Snakemake benchmark files."""
    return float(sum(pd.read_csv(p, sep="\t")["s"].iloc[0] for p in paths))


#: the in-run signal that is also read at an early-stopping epoch (AdamW only)
STOPPED_SIGNAL = ("adamw", "loss", "loss_stopped")


def early_stop_epoch(metrics: pd.DataFrame, history: pd.DataFrame) -> int | None:
    """The epoch :func:`alsofilter.detectors.early_stopping.stop_epoch` picks for an AdamW run's
    loss from its training accuracy and the Gaussian mixture's noise estimate; None where the
    run recorded neither."""
    loss = metrics[metrics["signal"] == STOPPED_SIGNAL[1]].sort_values("epoch")
    if loss.empty or "noise_rate_est_gmm" not in loss or "train_acc" not in history:
        return None
    acc = history.set_index("epoch")["train_acc"].reindex(loss["epoch"]).to_numpy()
    return int(loss["epoch"].iloc[stop_epoch(acc, loss["noise_rate_est_gmm"].to_numpy()) - 1])


def run_detections(run: Mapping, metrics_csv, train_benchmark, history_csv=None) -> pd.DataFrame:
    """Rows of one training run: each signal at the last epoch, with the BMM and the GMM decision;
    for AdamW with its ``history_csv``, also its loss at the early-stopping epoch
    (:data:`STOPPED_SIGNAL`, column ``epoch``)."""
    metrics = pd.read_csv(metrics_csv)
    seconds = benchmark_seconds([train_benchmark])
    rows = []
    groups = [(signal, table, table.loc[table["epoch"].idxmax()]) for signal, table in metrics.groupby("signal", sort=False)]
    if run["method"] == STOPPED_SIGNAL[0] and history_csv is not None:
        stop = early_stop_epoch(metrics, pd.read_csv(history_csv))
        if stop is not None:
            loss = metrics[metrics["signal"] == STOPPED_SIGNAL[1]]
            groups.append((STOPPED_SIGNAL[2], loss, loss[loss["epoch"] == stop].iloc[0]))
    for signal, table, last in groups:
        base = {k: run[k] for k in SCENARIO + ["seed"]}
        base.update(method=run["method"], signal=signal, auc=last["auc"], ap=last["ap"],
                    training_jobs=1, training_seconds=seconds, epoch=int(last["epoch"]))
        rows.append({**base, "detector": detector_label(run["method"], signal, "bmm"), "decision": "BMM",
                     **{k: last[k] for k in ("precision", "recall", "f1", "noise_rate_est")},
                     "precision_at_noise_rate": last.get("precision_at_noise_rate", np.nan)})
        if "f1_gmm" in last.index:
            rows.append({**base, "detector": detector_label(run["method"], signal, "gmm"), "decision": "GMM",
                         **{k: last[f"{k}_gmm"] for k in ("precision", "recall", "f1", "noise_rate_est")},
                         "precision_at_noise_rate": last.get("precision_at_noise_rate", np.nan)})
    return pd.DataFrame(rows)


def crossval_detections(scenario: Mapping, detector: str, metrics_csv, benchmarks: Sequence,
                        folds: int) -> pd.DataFrame:
    """The row of one cross-validated detector on one (scenario, seed)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    out = {k: scenario[k] for k in SCENARIO + ["seed"]}
    out.update(method="crossval", signal=detector, decision="cleanlab",
               detector=crossval_label(detector, folds, detection_classifier(metrics_csv)),
               training_jobs=folds if detector == "cleanlab_network" else 0,
               training_seconds=benchmark_seconds(benchmarks),
               **{k: row.get(k, np.nan) for k in SCORES})
    return pd.DataFrame([out])


def detection_classifier(metrics_csv) -> str:
    """The pixel classifier a cross-validated detection's metrics.csv names (``logreg`` when it
    names none: the network's, or a file from before the setting)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    value = row.get("classifier", "logreg")
    return "logreg" if not isinstance(value, str) else value


def aggregate(detections: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (scenario, detector), sorted by mean AUC within a scenario;
    ``training_seconds`` is the mean per seed; ``ours`` marks ALSO-min π + BMM."""
    keys = SCENARIO + ["detector", "method", "signal", "decision"]
    missing = [m for m in SCORES if m not in detections]     # e.g. metrics of an older run
    detections = detections.assign(**{m: np.nan for m in missing})
    if "epoch" not in detections:
        detections = detections.assign(epoch=np.nan)
    table = mean_std_over_seeds(detections, keys, SCORES, means=["training_jobs", "training_seconds", "epoch"])
    table["ours"] = table["detector"] == OURS
    table = table.sort_values(SCENARIO + ["auc_mean"], ascending=[True] * len(SCENARIO) + [False],
                              kind="stable").reset_index(drop=True)
    table.insert(len(SCENARIO), "rank", table.groupby(SCENARIO, sort=False).cumcount() + 1)
    return table


def paired_against_references(table: pd.DataFrame, samples: Mapping[tuple, Mapping[str, tuple]],
                               n_boot: int = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Every detector against the paper's method and against the best detector of its scenario,
    paired on the same samples and seeds (:mod:`alsofilter.reporting.paired`).

    table : :func:`aggregate`'s; samples : (dataset, arch, noise, rate, seed) → detector →
    ``(is_noisy, score, flagged)`` (N,) arrays of its last epoch. Returns
    :func:`~alsofilter.reporting.paired.paired_comparisons`' rows."""
    boot, points = {}, []
    for key, detectors in samples.items():
        n = len(next(iter(detectors.values()))[0])
        indices = resample_indices(n, min(n_boot, bootstrap_size(n)), seed=int(key[-1]))
        identity = np.arange(n)[None, :]
        boot[key] = {}
        for name, (is_noisy, score, flagged) in detectors.items():
            boot[key][name] = bootstrap_metrics(is_noisy, score, flagged, indices)
            full = bootstrap_metrics(is_noisy, score, flagged, identity)
            points.append({**dict(zip(SCENARIO + ["seed"], key)), "detector": name,
                           **{m: float(v[0]) for m, v in full.items()}})
    references = {}
    for scen, rows in table.groupby(SCENARIO, sort=False):
        roles = {"best": rows.iloc[0]["detector"]}             # aggregate() sorts by mean AUC
        if (rows["detector"] == OURS).any():
            roles["ours"] = OURS
        references[tuple(scen)] = roles
    if not points:
        return pd.DataFrame(columns=[*SCENARIO, "detector", "role", "reference", "metric", "delta", "low",
                                     "high", "seeds", "verdict"])
    return paired_comparisons(boot, pd.DataFrame(points), SCENARIO, references)


def with_verdicts(table: pd.DataFrame, paired: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """``table`` with, per role of :data:`ROLES`, the paired difference of ``metric`` to that
    reference and its interval and verdict: ``{metric}_vs_{role}``, ``…_low``, ``…_high``,
    ``verdict_vs_{role}``."""
    out = table.copy()
    for role in ROLES:
        part = paired[(paired["role"] == role) & (paired["metric"] == metric)] if len(paired) else paired
        part = part.set_index([*SCENARIO, "detector"]) if len(part) else None
        for column, source in ((f"{metric}_vs_{role}", "delta"), (f"{metric}_vs_{role}_low", "low"),
                               (f"{metric}_vs_{role}_high", "high"), (f"verdict_vs_{role}", "verdict")):
            keys = list(zip(*(out[c] for c in SCENARIO), out["detector"]))
            out[column] = [part[source].get(k, np.nan if source != "verdict" else "") if part is not None
                           else (np.nan if source != "verdict" else "") for k in keys]
    return out


def summary_sentences(rows: pd.DataFrame) -> list[str]:
    """What one scenario's verdicts say, in words (generated, never written by hand): the best
    detector, where the paper's method stands against it, and which detectors are ahead of or
    behind the paper's method beyond noise."""
    best = rows.iloc[0]
    seeds = int(rows["seeds"].max())
    lines = [f"Best by ROC-AUC: {best['detector']} ({best['auc_mean']:.3f})."]
    ours = rows[rows["detector"] == OURS]
    if len(ours) and "verdict_vs_best" in rows:
        o = ours.iloc[0]
        if o["detector"] == best["detector"]:
            lines.append(f"{OURS} is the best detector here.")
        else:
            word = {"behind": "behind it beyond noise", "ahead": "ahead of it beyond noise",
                    "within noise": "within noise of it"}.get(o["verdict_vs_best"], "not compared with it")
            lines.append(f"{OURS} is {word}: ROC-AUC {delta_with_interval(o['auc_vs_best'], o['auc_vs_best_low'], o['auc_vs_best_high'])}.")
        others = rows[rows["detector"] != OURS]
        for verdict_word, phrase in (("behind", "Ahead of {ours} beyond noise"), ("ahead", "Behind {ours} beyond noise")):
            # a detector is ahead of ours when ours is behind it: read its own verdict against ours
            names = others[others["verdict_vs_ours"] == ("ahead" if verdict_word == "behind" else "behind")]["detector"]
            lines.append(f"{phrase.format(ours=OURS)}: {', '.join(names) if len(names) else 'none'}.")
        within = int((others["verdict_vs_ours"] == "within noise").sum())
        lines.append(f"Within noise of {OURS}: {within} detector{'s' if within != 1 else ''}.")
        stopped = rows[rows["detector"] == detector_label(STOPPED_SIGNAL[0], STOPPED_SIGNAL[2], "bmm")]
        if len(stopped):
            s = stopped.iloc[0]
            word = {"ahead": "ahead of", "behind": "behind", "within noise": "within noise of"}.get(s["verdict_vs_ours"], "not compared with")
            lines.append(f"Without clean labels, AdamW stopped early (epoch {s['epoch']:.1f} on average) is {word} "
                         f"{OURS}: ROC-AUC {delta_with_interval(s['auc_vs_ours'], s['auc_vs_ours_low'], s['auc_vs_ours_high'])}.")
    if seeds == 1:
        lines.append("One seed: the intervals cover the finite sample only, not another run.")
    return lines


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per scenario, the paper's method in bold, the paired differences of
    ROC-AUC to it and to the best detector with their 95 % intervals, and the verdicts in words."""
    parts = ["# Leaderboard: every detector on the same noise files (final epoch, mean ± std over seeds)",
             "", f"Sorted by ROC-AUC. **Bold**: the paper's method ({OURS}). P@k: precision when as many "
             "samples are flagged as are mislabeled. vs ours / vs best: the paired difference of ROC-AUC "
             "(this detector minus the reference, mean over seeds) with its 95 % interval (bootstrap over "
             "samples within each seed combined with the spread over seeds, docs/results.md). Cost: "
             "training jobs of a network and their total wall seconds per seed (Snakemake benchmarks).", ""]
    has_paired = "verdict_vs_ours" in table
    for scen, rows in table.groupby(SCENARIO, sort=False):
        dataset, arch, noise, rate = scen
        parts += [f"## {dataset}, {arch}, {noise} {rate:g} ({int(rows['seeds'].max())} seeds)", "",
                  "| rank | detector | ROC-AUC | AP | precision | recall | F1 | est. noise rate | P@k "
                  + ("| vs ours | vs best " if has_paired else "") + "| jobs | seconds |",
                  "|---:|---|---|---|---|---|---|---|---" + ("|---|---" if has_paired else "") + "|---:|---:|"]
        for _, r in rows.iterrows():
            name = f"**{r['detector']}**" if r["ours"] else r["detector"]
            if r["signal"] == STOPPED_SIGNAL[2] and np.isfinite(r.get("epoch", np.nan)):
                name += f" (epoch {r['epoch']:.1f})"
            cells = [mean_pm_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in SCORES]
            if has_paired:
                for role in ROLES:
                    text = delta_with_interval(r[f"auc_vs_{role}"], r[f"auc_vs_{role}_low"], r[f"auc_vs_{role}_high"])
                    v = r[f"verdict_vs_{role}"]
                    cells.append("reference" if v == "reference" else f"{text} {v}".strip())
            parts.append(f"| {r['rank']} | {name} | " + " | ".join(cells)
                         + f" | {r['training_jobs']:g} | {r['training_seconds']:.0f} |")
        if has_paired:
            parts += [""] + summary_sentences(rows)
        parts.append("")
    return "\n".join(parts)


def write_leaderboard(detections: pd.DataFrame, out_csv, out_md, samples: Mapping | None = None,
                      out_paired=None, n_boot: int = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Aggregate, compare (when the per-sample ``samples`` are given) and write the CSV, the
    Markdown and, with ``out_paired``, every paired comparison (all metrics, both references)."""
    table = aggregate(detections)
    if samples:
        paired = paired_against_references(table, samples, n_boot)
        table = with_verdicts(table, paired)
        if out_paired is not None:
            write_text_atomic(out_paired, paired.to_csv(index=False))
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, markdown(table))
    return table


def plot_leaderboard(table: pd.DataFrame, out_paths) -> None:
    """One panel per scenario: ROC-AUC (bar) of every score, and F1 of its best decision (dot);
    ALSO-min's signals blue (its π, the paper's method, labelled in bold), AdamW's red, cleanlab
    green, ALSO-max grey. Whiskers: the 95 % interval of the detector's paired ROC-AUC difference
    to the paper's method, drawn around its bar's end, with the paper's method's ROC-AUC as a
    dashed line: a whisker that crosses the line is within noise of it (without paired
    comparisons: ± std over seeds)."""
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
        if "auc_vs_ours" in rows and rows["auc_vs_ours"].notna().any():
            low = (rows["auc_vs_ours"] - rows["auc_vs_ours_low"]).fillna(0).clip(lower=0)
            high = (rows["auc_vs_ours_high"] - rows["auc_vs_ours"]).fillna(0).clip(lower=0)
            xerr = np.vstack([low, high])
            ours = rows[rows["detector"] == OURS]
            if len(ours):
                ax.axvline(ours["auc_mean"].iloc[0], color="tab:blue", lw=1, ls="--", label=f"{OURS}")
        else:
            xerr = rows["auc_std"].fillna(0)
        ax.barh(y, rows["auc_mean"], xerr=xerr,
                color=[colors.get(m, "0.6") for m in rows["method"]], alpha=0.85, capsize=2)
        ax.plot(rows["f1_mean"], y, "k.", label="F1 of the decision")
        ax.set_yticks(y, labels, fontsize=8)
        for tick, ours in zip(ax.get_yticklabels(), rows["detector"].str.startswith("ALSO-min π")):
            tick.set_fontweight("bold" if ours else "normal")
        ax.axvline(0.5, color="0.3", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_xlabel("ROC-AUC (bar, 95 % interval vs ours) / F1 (dot), final epoch")
        ax.set_title(scenario_title(*scen), fontsize=10)
    for ax in axes.flat[len(scenarios):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_paths)


