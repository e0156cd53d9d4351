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
from alsofilter.reporting.aggregate import delta_with_interval, mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import fitted_range, save_figure, scenario_title
from alsofilter.reporting.leaderboard import SCENARIO, benchmark_seconds
from alsofilter.reporting.paired import LEVEL, combine_seeds, verdict

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


#: the paper's method as a downstream detector (compared in the same mode)
OURS_DETECTOR = "also-min.weight.bmm"


def paired_accuracy(rows: pd.DataFrame, test_sizes: Mapping[str, int] | None = None,
                    level: float = LEVEL) -> pd.DataFrame:
    """Each (scenario, detector, mode) against no filtering and against the paper's method in the
    same mode: the per-seed paired difference of final clean test accuracy, its mean over seeds
    and 95 % interval (:func:`alsofilter.reporting.paired.combine_seeds`).

    rows : :func:`variant_row`'s, one per (scenario, seed, detector, mode); test_sizes : dataset →
    test images. The finite-sample part of a seed's difference is binomial, (a(1−a) + b(1−b)) / n:
    the two models' errors on the same test images are treated as independent, which overstates
    it when they err on the same images (history.csv keeps accuracies, not predictions). Without
    a test size only the spread over seeds is used. Returns one row per (scenario, detector,
    mode, role) with ``reference``, ``delta``, ``low``, ``high``, ``seeds``, ``verdict``."""
    out = []
    for scen, group in rows.groupby(SCENARIO, sort=False):
        n_test = (test_sizes or {}).get(scen[0])
        for (detector, mode), part in group.groupby(["detector", "mode"], sort=False):
            references = {"none": ("none", "-")}
            if detector != "none":
                references["ours"] = (OURS_DETECTOR, mode if mode != "-" else "drop")
            for role, (ref_detector, ref_mode) in references.items():
                ref = group[(group["detector"] == ref_detector) & (group["mode"] == ref_mode)].set_index("seed")
                if ref.empty or (ref_detector == detector and ref_mode == mode):
                    continue
                mine = part.set_index("seed")
                seeds = [s for s in mine.index if s in ref.index]
                a = mine.loc[seeds, "final_acc"].to_numpy(float)
                b = ref.loc[seeds, "final_acc"].to_numpy(float)
                within = (a * (1 - a) + b * (1 - b)) / n_test if n_test else np.full(len(seeds), np.nan)
                mean, low, high = combine_seeds(a - b, within, level)
                out.append({**dict(zip(SCENARIO, scen)), "detector": detector, "mode": mode, "role": role,
                            "reference": f"{ref_detector} ({ref_mode})", "delta": mean, "low": low,
                            "high": high, "seeds": len(seeds), "verdict": verdict(low, high)})
    return pd.DataFrame(out, columns=[*SCENARIO, "detector", "mode", "role", "reference", "delta", "low",
                                      "high", "seeds", "verdict"])


def with_verdicts(table: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``vs_none``, ``vs_none_low``, ``vs_none_high``, ``verdict_vs_none`` and the
    same ``_ours`` columns from :func:`paired_accuracy`."""
    out = table.copy()
    index = paired.set_index([*SCENARIO, "detector", "mode", "role"]) if len(paired) else None
    for role in ("none", "ours"):
        keys = [(*k, role) for k in zip(*(out[c] for c in SCENARIO), out["detector"], out["mode"])]
        for column, source in ((f"vs_{role}", "delta"), (f"vs_{role}_low", "low"), (f"vs_{role}_high", "high"),
                               (f"verdict_vs_{role}", "verdict")):
            missing = "" if source == "verdict" else np.nan
            out[column] = [index[source].get(k, missing) if index is not None else missing for k in keys]
    return out


def summary_sentences(rows: pd.DataFrame) -> list[str]:
    """What one scenario's verdicts against no filtering say, generated from them."""
    detectors = rows[~rows["detector"].isin(["none", "oracle"])]
    if detectors.empty or "verdict_vs_none" not in rows:
        return []
    lines = []
    for word, phrase in (("ahead", "Better than no filtering beyond noise"), ("behind", "Worse than no filtering beyond noise")):
        hits = detectors[detectors["verdict_vs_none"] == word]
        names = [f"{r['label']} ({r['mode']}, {delta_with_interval(r['vs_none'], r['vs_none_low'], r['vs_none_high'])})"
                 for _, r in hits.iterrows()]
        lines.append(f"{phrase}: {'; '.join(names) if names else 'none'}.")
    within = int((detectors["verdict_vs_none"] == "within noise").sum())
    lines.append(f"Within noise of no filtering: {within} of {len(detectors)} (detector, mode) pairs.")
    if not (detectors["verdict_vs_none"] == "ahead").any():
        lines.append("No detector beats no filtering beyond noise here.")
    return lines


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per scenario with the paired differences to no filtering and to the
    paper's method (95 % intervals), and per scenario the verdicts in words."""
    parts = ["# Downstream: clean test accuracy after retraining on each detector's cleaned labels",
             "", "AdamW, the baseline's architecture, epochs, augmentation and seed, trained from scratch on "
             "the samples each decision keeps (drop) or with flagged samples relabelled to the detector's "
             "prediction (relabel). Mean ± std over seeds. Best = best epoch (optimistic: picking it needs "
             "clean data). vs no filtering / vs ours: paired difference of final test accuracy (mean over "
             "seeds) with its 95 % interval (spread over seeds, binomial test-set noise; docs/results.md).", ""]
    paired = "verdict_vs_none" in table
    for scen, rows in table.groupby(SCENARIO, sort=False):
        dataset, arch, noise, rate = scen
        seeds = int(rows["seeds"].max())
        parts += [f"## {dataset}, {arch}, {noise} {rate:g} ({seeds} seed{'s' if seeds != 1 else ''})", "",
                  "| detector | mode | kept | kept labels correct | final test acc | best test acc "
                  "| vs no filtering | vs ours | vs oracle | seconds |",
                  "|---|---|---|---|---|---|---|---|---:|---:|"]
        for _, r in rows.iterrows():
            name = f"*{r['label']}*" if r["detector"] in ("none", "oracle") else r["label"]
            cells = [mean_pm_std(r[f"{v}_mean"], r[f"{v}_std"]) for v in VALUES]
            for role in ("none", "ours"):
                if paired and r.get(f"verdict_vs_{role}"):
                    cells.append(f"{delta_with_interval(r[f'vs_{role}'], r[f'vs_{role}_low'], r[f'vs_{role}_high'])} "
                                 f"{r[f'verdict_vs_{role}']}")
                elif role == "none":
                    cells.append(_signed(r["gain_over_none"]) if r["detector"] != "none" else "reference")
                else:
                    cells.append("–")
            parts.append(f"| {name} | {r['mode']} | " + " | ".join(cells)
                         + f" | {_signed(r['gap_to_oracle'])} | {r['training_seconds']:.0f} |")
        sentences = summary_sentences(rows) if paired else []
        if sentences:
            parts += [""] + sentences
        parts.append("")
    return "\n".join(parts)


#: marker of each mode (drop, relabel)
MODE_MARKERS = {"drop": "o", "relabel": "D"}
#: no filtering and the oracles: vertical lines (colour, line style, legend)
REFERENCE_STYLES = {("none", "-"): ("black", "-", "no filtering"), ("oracle", "drop"): ("tab:green", "--", "oracle, drop"),
                    ("oracle", "relabel"): ("tab:green", ":", "oracle, relabel")}


def plot_downstream(table: pd.DataFrame, out_paths) -> None:
    """One panel per scenario, one row per detector (best at the top): final clean test accuracy
    after retraining (dot, mean over seeds; drop and relabel side by side) with the 95 % interval
    of its paired difference to no filtering drawn around the dot (± std over seeds without it),
    on an axis fitted to the dots, the whiskers and the references; no filtering and the oracles
    as vertical lines: a whisker that crosses the no-filtering line is within noise of it. The
    paper's method in bold with a star, the best (detector, mode) with a ring."""
    scenarios = list(table.groupby(SCENARIO, sort=False))
    ncols = min(2, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    n_detectors = max(rows["detector"].nunique() for _, rows in scenarios)
    height = max(2.6, 0.42 * n_detectors + 1.4)
    fig = plt.figure(figsize=(7.0 * ncols, height * nrows + 0.5), layout="constrained")
    panels = fig.subplots(nrows, ncols, squeeze=False)
    for ax in panels.flat[len(scenarios):]:
        ax.axis("off")
    ours_label = parse_detector(OURS_DETECTOR).label
    for ax, (scen, rows) in zip(panels.flat, scenarios):
        refs = rows[rows["detector"].isin(["none", "oracle"])]
        rows = rows[~rows["detector"].isin(["none", "oracle"])]
        order = rows.groupby("label", sort=False)["final_acc_mean"].max().sort_values(kind="stable")
        labels = list(order.index)                       # ascending: the best ends on top
        modes = [m for m in MODE_COLORS if m in set(rows["mode"])] or ["drop"]
        offset = 0.32 / max(1, len(modes) - 1) if len(modes) > 1 else 0.0
        ends = [refs["final_acc_mean"].to_numpy(float)]
        best = rows.loc[rows["final_acc_mean"].idxmax()] if rows["final_acc_mean"].notna().any() else None
        for k, mode in enumerate(modes):
            part = rows[rows["mode"] == mode].set_index("label").reindex(labels)
            y = np.arange(len(labels)) + (k - (len(modes) - 1) / 2) * offset
            acc = part["final_acc_mean"].to_numpy(float)
            if "vs_none_low" in part and part["vs_none_low"].notna().any():
                below = (part["vs_none"] - part["vs_none_low"]).to_numpy(float)
                above = (part["vs_none_high"] - part["vs_none"]).to_numpy(float)
            else:
                below = above = part["final_acc_std"].to_numpy(float)
            below, above = np.nan_to_num(np.clip(below, 0, None)), np.nan_to_num(np.clip(above, 0, None))
            ax.errorbar(acc, y, xerr=[below, above], fmt="none", ecolor=MODE_COLORS[mode], elinewidth=1.3,
                        capsize=2.5, alpha=0.9)
            ours = np.array([label == ours_label for label in labels])
            ax.scatter(acc[~ours], y[~ours], marker=MODE_MARKERS.get(mode, "o"), s=30, c=MODE_COLORS[mode],
                       zorder=3, label=mode)
            ax.scatter(acc[ours], y[ours], marker="*", s=150, c=MODE_COLORS[mode], edgecolors="black",
                       linewidths=0.6, zorder=4)
            if best is not None and best["mode"] == mode:
                i = labels.index(best["label"])
                ax.scatter([acc[i]], [y[i]], s=220, facecolors="none", edgecolors="goldenrod", linewidths=1.8,
                           zorder=5, label="best")
            ends += [acc - below, acc + above]
        for _, r in refs.iterrows():
            color, ls, name = REFERENCE_STYLES[(r["detector"], r["mode"])]
            ax.axvline(r["final_acc_mean"], color=color, ls=ls, lw=1.2, label=name, zorder=1)
        ax.set_xlim(*fitted_range(np.concatenate(ends)))
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        for tick in ax.get_yticklabels():   # the paper's method in bold, as in the leaderboard
            tick.set_fontweight("bold" if tick.get_text() == ours_label else "normal")
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("clean test accuracy after retraining, final epoch (whisker: 95 % paired interval vs no filtering)",
                      fontsize=8)
        seeds = int(rows["seeds"].max()) if len(rows) else 0
        ax.set_title(f"{scenario_title(*scen)} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize=10, loc="left")
    handles = {}
    for ax in panels.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    handles.setdefault(f"{ours_label}: the paper's method", plt.Line2D(
        [], [], ls="none", marker="*", markersize=10, color="0.5", markeredgecolor="black"))
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)), fontsize=8,
               frameon=False)
    save_figure(fig, out_paths)
