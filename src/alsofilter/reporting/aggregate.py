"""Aggregating over seeds, and how a mean over seeds is written.

Every table of the pipeline (summary, leaderboard, downstream) aggregates its per-seed rows with
:func:`mean_std_over_seeds` and prints them with :func:`mean_pm_std`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd


def mean_std_over_seeds(rows: pd.DataFrame, keys: Sequence[str], values: Iterable[str],
                        means: Iterable[str] = (), seeds_column: str = "seeds", sort: bool = False) -> pd.DataFrame:
    """Per group of ``keys``: ``{v}_mean`` and ``{v}_std`` (sample std, ddof=1: NaN for one seed)
    of each of ``values``, the plain mean of each of ``means``, and the number of distinct seeds
    (column ``seeds_column``). ``rows`` has one row per seed and group, with a ``seed`` column.
    Groups keep their first-seen order unless ``sort``."""
    grouped = rows.groupby(list(keys), sort=sort, dropna=False)
    table = grouped[list(values)].agg(["mean", "std"])
    table.columns = [f"{v}_{stat}" for v, stat in table.columns]
    for column in means:
        table[column] = grouped[column].mean()
    table[seeds_column] = grouped["seed"].nunique()
    return table.reset_index()


def mean_pm_std(mean: float, std: float, digits: int = 3) -> str:
    """``0.812 ± 0.010``; the mean alone for one seed (std NaN); ``–`` when the mean is undefined."""
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" if not np.isfinite(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def delta_with_interval(delta: float, low: float, high: float, digits: int = 3) -> str:
    """A signed difference with its interval, ``+0.012 [-0.030, +0.054]``; the difference alone
    without an interval; ``–`` when undefined (every paired comparison of the tables)."""
    if not np.isfinite(delta):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{delta:+.{digits}f}"
    return f"{delta:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
