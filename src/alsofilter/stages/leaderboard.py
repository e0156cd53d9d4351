"""Stage ``leaderboard`` (rule ``leaderboard``): every detector on the same noise files, with its
cost (:mod:`alsofilter.reporting.leaderboard`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from alsofilter.logs import setup_logging
from alsofilter.reporting.leaderboard import crossval_detections, plot_leaderboard, run_detections, write_leaderboard


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


def rule_leaderboard(smk) -> None:
    """Rule ``leaderboard``."""
    setup_logging(smk.log[0])
    leaderboard_files(smk.params.runs, smk.input.metrics, smk.input.train_benchmarks, smk.params.crossval,
                      smk.params.folds, smk.output.csv, smk.output.md, smk.output.png, smk.output.pdf)
