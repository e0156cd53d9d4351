"""Stage ``report`` (rules ``summary_tables``, ``figure_*``, ``paper_comparison``): the
experiment's summary tables, its figures and the comparison with the paper's numbers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from alsofilter.io import write_text_atomic
from alsofilter.logs import setup_logging
from alsofilter.reporting.paper import comparison_markdown, comparison_table, reference_frame
from alsofilter.reporting.plots import (bmm_fit_panels, plot_auc_curves, plot_auc_vs_rate, plot_bmm_fits,
                                        plot_memorization)
from alsofilter.reporting.tables import build_summary, write_tables


def summary_tables(runs: list[Mapping[str, Any]], metrics_paths, history_paths, out_dir) -> pd.DataFrame:
    """summary.csv (one row per run and signal) and the seed-aggregated tables."""
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
    if isinstance(reference, str) and reference == "paper":
        reference = reference_frame()
    plot_auc_curves(_with_keys(metrics_paths, runs), out_paths, reference=reference)



def paper_comparison_files(summary_csv, out_csv, out_md) -> pd.DataFrame:
    """Our final/peak ROC-AUC next to the paper's (SPEC §7), CSV and Markdown."""
    table = comparison_table(pd.read_csv(summary_csv))
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, comparison_markdown(table))
    return table



def auc_vs_rate_figure(summary_csv, out_paths) -> None:
    plot_auc_vs_rate(pd.read_csv(summary_csv), out_paths)



def memorization_figure(runs, history_paths, out_paths) -> None:
    plot_memorization(_with_keys(history_paths, runs), out_paths)



def bmm_figure(runs, signals_paths, mixture_paths, metrics_paths, out_paths) -> None:
    items = [dict(run, signals_path=s, mixture_path=m, metrics_path=t)
             for run, s, m, t in zip(runs, signals_paths, mixture_paths, metrics_paths)]
    plot_bmm_fits(bmm_fit_panels(items), out_paths)


def rule_summary_tables(smk) -> None:
    """Rule ``summary_tables``: the tables go next to ``output.summary``."""
    setup_logging(smk.log[0])
    summary_tables(smk.params.runs, smk.input.metrics, smk.input.history, Path(smk.output.summary).parent)


def rule_figure(smk) -> None:
    """Rules ``figure_auc``, ``figure_bmm``, ``figure_memorization``, ``figure_auc_vs_rate``
    (``params.figure`` says which)."""
    setup_logging(smk.log[0])
    out = [smk.output.png, smk.output.pdf]
    figure = smk.params.figure
    if figure == "auc":
        auc_figure(smk.params.runs, smk.input.metrics, out, reference=smk.params.get("reference"))
    elif figure == "bmm":
        bmm_figure(smk.params.runs, smk.input.signals, smk.input.mixture, smk.input.metrics, out)
    elif figure == "memorization":
        memorization_figure(smk.params.runs, smk.input.history, out)
    elif figure == "auc_vs_rate":
        auc_vs_rate_figure(smk.input.summary, out)
    else:
        raise ValueError(f"unknown figure {figure!r}")


def rule_paper_comparison(smk) -> None:
    """Rule ``paper_comparison``."""
    setup_logging(smk.log[0])
    paper_comparison_files(smk.input.summary, smk.output.csv, smk.output.md)
