"""The paper's reported numbers (SPEC §7, read off its figure 3, ±0.005) and the comparison with ours.

The paper trains on CIFAR-10 for 100 epochs and plots the ROC-AUC per epoch of ALSO's weights
(our ``also-min`` with signal ``weight``) and of AdamW's per-sample loss (``adamw``, ``loss``).
Each value it reports is one :data:`PAPER_AUC` row:

``statistic = "final"``  the AUC at the last epoch (epoch 100); for ALSO the curves "rise to" or
                         "plateau at" that value, so it is also its final value.
``statistic = "peak"``   the highest AUC over the epochs, at the epochs given (``epoch``).

Our counterparts: ``auc_final`` and ``auc_best`` of ``summary.csv``, mean ± std over seeds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.reporting.aggregate import delta_with_interval, mean_pm_std
from alsofilter.reporting.paired import LEVEL, verdict

PAPER_DATASET = "cifar10"
PAPER_EPOCHS = 100
PAPER_METHODS = {"also-min": "weight", "adamw": "loss"}  # method -> the signal the paper plots

#: (arch, noise, rate, method, statistic, value, epoch, epoch text, wording in the paper's figure)
_ROWS = [
    ("resnet18", "symmetric", 0.8, "also-min", "peak", 0.90, 47.5, "45–50", "peak 0.90 (ep 45–50)"),
    ("resnet18", "symmetric", 0.8, "also-min", "final", 0.88, 100, "100", "0.88 at ep 100"),
    ("resnet18", "symmetric", 0.8, "adamw", "peak", 0.885, 25, "20–30", "peak 0.885 (ep 20–30)"),
    ("resnet18", "symmetric", 0.8, "adamw", "final", 0.535, 100, "100", "0.535 at ep 100"),
    ("resnet34", "symmetric", 0.8, "also-min", "final", 0.91, 100, "100", "rises to 0.91"),
    ("resnet34", "symmetric", 0.8, "adamw", "peak", 0.865, 29, "29", "peak 0.865 (ep 29)"),
    ("resnet34", "symmetric", 0.8, "adamw", "final", 0.525, 100, "100", "0.525 at ep 100"),
    ("resnet18", "symmetric", 0.4, "also-min", "final", 0.977, 100, "100", "plateau 0.977"),
    ("resnet18", "symmetric", 0.4, "adamw", "peak", 0.952, 19, "18–20", "peak 0.952 (ep 18–20)"),
    ("resnet18", "symmetric", 0.4, "adamw", "final", 0.61, 100, "100", "0.61 at ep 100"),
    ("resnet18", "asymmetric", 0.4, "also-min", "final", 0.908, 100, "100", "rises to 0.908"),
    ("resnet18", "asymmetric", 0.4, "adamw", "peak", 0.72, 25, "25", "peak 0.72 (ep 25)"),
    ("resnet18", "asymmetric", 0.4, "adamw", "final", 0.56, 100, "100", "0.56 at ep 100"),
]

PAPER_AUC = pd.DataFrame(
    [{"dataset": PAPER_DATASET, "arch": a, "noise": n, "rate": r, "method": m,
      "signal": PAPER_METHODS[m], "statistic": st, "value": v, "epoch": e, "paper_epoch": et,
      "paper_text": txt} for a, n, r, m, st, v, e, et, txt in _ROWS])

SCENARIO = list(SCENARIO_KEYS)
COMPARISON_COLUMNS = ["dataset", "arch", "noise", "rate", "method", "signal", "statistic",
                      "paper_value", "paper_epoch", "paper_text", "ours_mean", "ours_std", "n_seeds",
                      "difference", "difference_low", "difference_high", "verdict", "ours_epoch_best_mean", "epochs"]


def reference_frame() -> pd.DataFrame:
    """Reference lines for :func:`alsofilter.reporting.plots.plot_auc_curves`: scenario keys, ``method``,
    ``value`` and the ``epoch`` the paper reports it at (a marker where our runs reach it)."""
    return PAPER_AUC[[*SCENARIO, "method", "signal", "statistic", "value", "epoch"]].copy()


#: the paper's values are read off its figure to this precision (SPEC §7)
READING_ERROR = 0.005


def _against_paper(values: np.ndarray, paper: float) -> dict:
    """Our mean's 95 % interval over seeds (Student's t, S ≥ 2), widened by the paper's reading
    error, as an interval of ours − paper, and its verdict (``above`` / ``below`` the paper,
    ``within noise``; ``one seed`` when no interval can be given)."""
    values = values[np.isfinite(values)]
    if values.size < 2:
        return {"difference_low": np.nan, "difference_high": np.nan, "verdict": "one seed"}
    half = stats.t.ppf(0.5 + LEVEL / 2, df=values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    low, high = values.mean() - half - READING_ERROR - paper, values.mean() + half + READING_ERROR - paper
    word = {"ahead": "above the paper", "behind": "below the paper"}.get(verdict(low, high), "within noise")
    return {"difference_low": float(low), "difference_high": float(high), "verdict": word}


def comparison_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Each paper value whose scenario we ran, with ours (mean ± std over seeds) and the difference.

    ``summary`` is ``summary.csv`` (one row per run and signal). ``epochs`` is how many epochs
    our runs trained: the paper's "final" is epoch 100, so a shorter run is not comparable.
    """
    rows = []
    if summary is None or summary.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    for ref in PAPER_AUC.itertuples(index=False):
        sel = ((summary["dataset"] == ref.dataset) & (summary["arch"] == ref.arch)
               & (summary["noise"] == ref.noise) & np.isclose(summary["rate"].astype(float), ref.rate)
               & (summary["method"] == ref.method) & (summary["signal"] == ref.signal))
        ours = summary[sel]
        if ours.empty:
            continue
        column = "auc_final" if ref.statistic == "final" else "auc_best"
        values = ours[column].astype(float)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        rows.append({
            "dataset": ref.dataset, "arch": ref.arch, "noise": ref.noise, "rate": ref.rate,
            "method": ref.method, "signal": ref.signal, "statistic": ref.statistic,
            "paper_value": ref.value, "paper_epoch": ref.paper_epoch, "paper_text": ref.paper_text,
            "ours_mean": mean, "ours_std": std, "n_seeds": int(ours["seed"].nunique()),
            "difference": mean - ref.value,
            **_against_paper(values.to_numpy(), ref.value),
            "ours_epoch_best_mean": float(ours["epoch_best"].astype(float).mean()),
            "epochs": int(ours["epochs"].max()) if "epochs" in ours else np.nan,
        })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def comparison_markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown document (title, notes, table)."""
    head = ("# ROC-AUC: ours vs the paper\n\n"
            "Paper values read off its figure 3 (±0.005; SPEC §7): CIFAR-10, ALSO-min weights (π) and "
            "AdamW per-sample loss, 100 epochs. Ours: mean ± std over seeds; difference = ours − paper, with "
            "the 95 % interval of our mean over seeds (Student's t) widened by the reading error; verdict: "
            "above / below the paper beyond it, or within noise.\n")
    if table.empty:
        return head + ("\nNo scenario of this experiment matches one the paper reports "
                       "(cifar10 · resnet18 sym 0.8/0.4, asym 0.4; resnet34 sym 0.8 · adamw or also-min).\n")
    short = sorted(set(int(e) for e in table["epochs"].dropna() if int(e) != 100))
    note = (f"\n**Note:** these runs trained {', '.join(map(str, short))} epochs, not 100: "
            "the 'final' values are not comparable.\n" if short else "")

    view = pd.DataFrame({
        "scenario": [f"{r.dataset} · {r.arch} · {r.noise} {r.rate:g}" for r in table.itertuples()],
        "method": table["method"],
        "statistic": [f"{s} AUC" for s in table["statistic"]],
        "paper": [f"{v:.3f} (ep {e})" for v, e in zip(table["paper_value"], table["paper_epoch"])],
        "ours": [mean_pm_std(m, s) for m, s in zip(table["ours_mean"], table["ours_std"])],
        "difference": [delta_with_interval(d, lo, hi)
                       for d, lo, hi in zip(table["difference"], table["difference_low"], table["difference_high"])],
        "verdict": table["verdict"],
        "our best epoch": [f"{e:.1f}" for e in table["ours_epoch_best_mean"]],
        "seeds": table["n_seeds"],
        "epochs": table["epochs"],
    })
    return head + note + "\n" + view.to_markdown(index=False, disable_numparse=True) + "\n"
