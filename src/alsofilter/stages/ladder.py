"""Stage ``ladder`` (rule ``ladder``): the scale ladder's table and figure
(:mod:`alsofilter.reporting.ladder`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.logs import setup_logging
from alsofilter.names import score_label
from alsofilter.reporting.ladder import ladder_signals, write_ladder
from alsofilter.stages.leaderboard import run_samples


def ladder_files(runs: Sequence[Mapping], sizes: Mapping[str, int], metrics_paths, history_paths, signals_paths,
                 mixture_paths, out_csv, out_md, out_png, out_pdf) -> pd.DataFrame:
    """The ladder stage: ``runs`` with their metrics.csv, history.csv, signals.npz and mixture.npz
    (same order); ``sizes``: dataset -> training-set size. A run's training seconds are the sum of
    its epochs' seconds (history.csv), which a run resumed over several sittings keeps whole (the
    train job's Snakemake benchmark times its last sitting only)."""
    samples = {}
    for run, signals, mixture in zip(runs, signals_paths, mixture_paths, strict=True):
        wanted = {score_label(run["method"], s) for s in ladder_signals(run["method"])}
        found = run_samples(signals, mixture, run["method"])
        key = (*(run[k] for k in SCENARIO_KEYS), run["seed"])
        samples.setdefault(key, {}).update({name: v for name, v in found.items() if name in wanted})
    histories = [pd.read_csv(p) for p in history_paths]
    return write_ladder(runs, sizes, [pd.read_csv(p) for p in metrics_paths], histories,
                        [float(h["seconds"].sum()) for h in histories], samples, out_csv, out_md, out_png, out_pdf)


def rule_ladder(smk) -> None:
    """Rule ``ladder``."""
    setup_logging(smk.log[0])
    ladder_files(smk.params.runs, smk.params.sizes, smk.input.metrics, smk.input.histories, smk.input.signals,
                 smk.input.mixtures, smk.output.csv, smk.output.md, smk.output.png,
                 smk.output.pdf)
