"""The downstream stage's plan: which (detector, mode) pairs each (scenario, seed) measures, and
which training job measures each of them. ``workflow/rules/common.smk`` turns the plan into paths.

Two results are shared rather than trained again: "no filtering" is the AdamW run itself (same
labels, recipe and seed; ``tests/test_downstream.py`` checks that a retraining reproduces it
exactly), so it is retrained only when ``adamw`` is not among the methods; the relabelling oracle
trains on the true labels, which every noise scenario of a (dataset, arch, seed) has in common,
so it is trained once, in the first such scenario of the grid.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

from alsofilter.config.sections import downstream_settings

#: the training job that measures a (detector, mode): the AdamW run of the grid, or a retraining
SOURCES = ("run", "retrain")


class DownstreamJob(NamedTuple):
    """One (scenario, seed, detector, mode) of the downstream table and the job that measures it:
    ``source`` ``"run"`` (the AdamW run of ``source_scenario``) or ``"retrain"`` (the retraining
    of ``source_scenario`` with this detector and mode). Scenario keys: dataset, arch, noise,
    rate, seed."""

    scenario: dict
    detector: str
    mode: str
    source: str
    source_scenario: dict


class DownstreamItem(NamedTuple):
    """What the ``downstream`` rule reads for one (scenario, seed, detector, mode): the cleaned
    labels, the history of the training that measures it, the noise table and that training's
    benchmark files (:func:`alsofilter.reporting.downstream.variant_row` takes them in this order)."""

    scenario: dict
    detector: str
    mode: str
    cleaned: str
    history: str
    noise: str
    benchmarks: list


def downstream_variants(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (detector, mode) pairs of every (scenario, seed): no filtering (drop only: it flags
    nothing), the oracle in every mode, then every listed detector in every mode; none when the
    stage is off."""
    detectors, modes = downstream_settings(config)
    if not detectors:
        return []
    return [("none", "drop")] + [("oracle", m) for m in modes] + [(d, m) for d in detectors for m in modes]


def downstream_source(config: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]],
                      scenario: Mapping[str, Any], detector: str, mode: str) -> tuple[str, dict]:
    """``(source, source_scenario)`` of one (detector, mode) on ``scenario``, one of ``scenarios``
    (the grid's, in grid order): ``("run", scenario)`` for no filtering when the grid trains AdamW;
    the first scenario of the same (dataset, arch, seed) for the relabelling oracle; else
    ``("retrain", scenario)``."""
    if detector == "none" and "adamw" in config["methods"]:
        return "run", dict(scenario)
    if detector == "oracle" and mode == "relabel":
        return "retrain", dict(next(s for s in scenarios
                                    if all(s[k] == scenario[k] for k in ("dataset", "arch", "seed"))))
    return "retrain", dict(scenario)


def downstream_jobs(config: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]]) -> list[DownstreamJob]:
    """Every (scenario, seed, detector, mode) of the downstream table, scenarios in grid order,
    with the job that measures it (:func:`downstream_source`)."""
    return [DownstreamJob(dict(scen), detector, mode, *downstream_source(config, scenarios, scen, detector, mode))
            for scen in scenarios for detector, mode in downstream_variants(config)]


def downstream_run_methods(config: Mapping[str, Any]) -> list[str]:
    """The methods whose runs the listed detectors read (``<method>.<signal>.<decision>``)."""
    return sorted({d.split(".")[0] for d in downstream_settings(config)[0] if d.count(".") == 2})
