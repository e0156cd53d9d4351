"""Summary tables from the per-run metrics and history CSVs.

``summary.csv`` holds one row per (run, signal): final and best ROC-AUC, the BMM decision
metrics at the last epoch, and the final test accuracy. ``summary_by_seed.*`` aggregate the
seeds of a scenario (mean and sample standard deviation, :mod:`alsofilter.reporting.aggregate`;
with one seed the std is NaN and the mean is printed alone).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.io import write_text_atomic
from alsofilter.reporting.aggregate import mean_pm_std, mean_std_over_seeds

#: a run's keys, in the column order of summary.csv
RUN_KEYS = ("dataset", "arch", "method", "noise", "rate", "seed")
GROUP_KEYS = ("dataset", "arch", "method", "signal", "noise", "rate")
SORT_KEYS = [*SCENARIO_KEYS, "method", "signal", "seed"]
AGG_METRICS = (
    "auc_final", "auc_best", "epoch_best", "ap_final", "f1_final", "precision_final",
    "recall_final", "noise_rate_true", "noise_rate_est", "test_acc_final",
)
TABLE_METRICS = ("auc_final", "auc_best", "epoch_best", "ap_final", "f1_final", "noise_rate_true",
                 "noise_rate_est", "test_acc_final")


def run_summary(metrics: pd.DataFrame, history: pd.DataFrame | None, run: Mapping) -> pd.DataFrame:
    """One row per signal of one run: final/best AUC, final decision metrics, final test accuracy."""
    test_acc = np.nan
    if history is not None and len(history):
        test_acc = float(history.sort_values("epoch")["test_acc"].iloc[-1])
    rows = []
    for signal, m in metrics.sort_values("epoch").groupby("signal", sort=True):
        last = m.iloc[-1]
        auc = m["auc"].to_numpy(dtype=float)
        has_auc = np.isfinite(auc).any()
        best = int(np.nanargmax(auc)) if has_auc else None  # first maximum = earliest epoch on ties
        rows.append({
            **{k: run[k] for k in RUN_KEYS},
            "signal": signal,
            "auc_final": float(last["auc"]),
            "auc_best": float(auc[best]) if has_auc else np.nan,
            "epoch_best": int(m["epoch"].iloc[best]) if has_auc else np.nan,
            "ap_final": float(last["ap"]),
            "f1_final": float(last["f1"]),
            "precision_final": float(last["precision"]),
            "recall_final": float(last["recall"]),
            "noise_rate_true": float(last["noise_rate_true"]),
            "noise_rate_est": float(last["noise_rate_est"]),
            "test_acc_final": test_acc,
            "epochs": int(m["epoch"].max()),
        })
    return pd.DataFrame(rows)


def build_summary(runs: Iterable[tuple[Mapping, str | Path, str | Path | None]]) -> pd.DataFrame:
    """Concatenate :func:`run_summary` over ``(run keys, metrics csv, history csv)`` triples."""
    parts = []
    for run, metrics_path, history_path in runs:
        history = pd.read_csv(history_path) if history_path is not None else None
        parts.append(run_summary(pd.read_csv(metrics_path), history, run))
    if not parts:
        return pd.DataFrame(columns=[*RUN_KEYS, "signal", *AGG_METRICS, "epochs"])
    summary = pd.concat(parts, ignore_index=True)
    return summary.sort_values(SORT_KEYS, kind="stable").reset_index(drop=True)


def aggregate_seeds(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1; NaN for a single seed) of every metric over the seeds of a group."""
    metrics = [m for m in AGG_METRICS if m in summary.columns]
    agg = mean_std_over_seeds(summary, GROUP_KEYS, metrics, seeds_column="n_seeds", sort=True)
    order = [*SCENARIO_KEYS, "method", "signal"]
    return agg.sort_values(order, kind="stable").reset_index(drop=True)


def format_mean_std(agg: pd.DataFrame, metrics: Iterable[str] = TABLE_METRICS, digits: int = 3) -> pd.DataFrame:
    """Human-readable table: scenario columns, then one "mean ± std" string per metric."""
    keys = [*SCENARIO_KEYS, "method", "signal", "n_seeds"]
    out = agg[keys].copy()
    for m in metrics:
        if f"{m}_mean" not in agg.columns:
            continue
        d = 1 if m.startswith("epoch") else digits
        out[m] = [mean_pm_std(a, b, d) for a, b in zip(agg[f"{m}_mean"], agg[f"{m}_std"])]
    return out.reset_index(drop=True)


def _latex(table: pd.DataFrame) -> str:
    def esc(s: object) -> str:
        return str(s).replace("_", r"\_").replace("±", r"$\pm$").replace("–", "--")

    t = table.map(esc)
    t.columns = [esc(c) for c in t.columns]
    return t.to_latex(index=False)


def write_tables(summary: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write summary.csv, summary_by_seed.{csv,md,tex} into ``out_dir``; return their paths."""
    out = Path(out_dir)
    agg = aggregate_seeds(summary)
    table = format_mean_std(agg)
    return {
        "summary_csv": write_text_atomic(out / "summary.csv", summary.to_csv(index=False)),
        "by_seed_csv": write_text_atomic(out / "summary_by_seed.csv", agg.to_csv(index=False)),
        "by_seed_md": write_text_atomic(out / "summary_by_seed.md", table.to_markdown(index=False) + "\n"),
        "by_seed_tex": write_text_atomic(out / "summary_by_seed.tex", _latex(table)),
    }
