"""The run grid: scenarios × methods × seeds, and the keys that name a scenario."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from alsofilter.config.schema import ConfigError, properties
from alsofilter.data.noise import canonical_noise, is_human_noise

#: keys of a ``scenarios`` entry that are not scenario keys (they choose runs, not a scenario)
RUN_SELECTION_KEYS: tuple[str, ...] = ("seeds",)

#: what names a noise scenario, in every table and path: the keys of a ``scenarios`` entry
SCENARIO_KEYS: tuple[str, ...] = tuple(k for k in properties("scenarios[]") if k not in RUN_SELECTION_KEYS)




@dataclass(frozen=True)
class Run:
    """One training run of the grid. ``noise`` is the path-safe name (``human-worst``); human
    noise has ``rate`` 0.0."""

    dataset: str
    arch: str
    method: str
    noise: str
    rate: float
    seed: int

    @property
    def rate_str(self) -> str:
        return format_rate(self.rate)

    def wildcards(self) -> dict[str, str]:
        return {"dataset": self.dataset, "arch": self.arch, "method": self.method,
                "noise": self.noise, "rate": self.rate_str, "seed": str(self.seed)}

    def keys(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "arch": self.arch, "method": self.method,
                "noise": self.noise, "rate": self.rate, "seed": self.seed}


def format_rate(rate: float) -> str:
    """Rate as it appears in paths: ``0.4`` → ``"0.4"``, ``0`` → ``"0.0"``."""
    return repr(float(rate))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand_scenarios(scenarios: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each scenario entry may hold lists; expand each to the cross product, keep order, dedupe.

    Noise names become path-safe (``human:worst`` → ``human-worst``); human noise takes no rate
    and gets rate 0.0.
    """
    out, seen = [], set()
    for i, entry in enumerate(scenarios):
        for dataset, arch, noise in itertools.product(
                *(_as_list(entry[k]) for k in ("dataset", "arch", "noise"))):
            try:
                noise = canonical_noise(noise)
            except ValueError as exc:
                raise ConfigError(f"config key 'scenarios[{i}].noise': {exc}") from None
            if is_human_noise(noise):
                rates = [0.0]
            elif "rate" in entry:
                rates = _as_list(entry["rate"])
            else:
                raise ConfigError(f"config key 'scenarios[{i}].rate' is missing; {noise} noise needs a "
                                  "rate in [0, 1)")
            for rate in rates:
                item = {"dataset": dataset, "arch": arch, "noise": noise, "rate": float(rate)}
                marker = tuple(item.values())
                if marker not in seen:
                    seen.add(marker)
                    out.append(item)
    return out


def expand_runs(config: Mapping[str, Any]) -> list[Run]:
    """All training runs: scenarios × methods × seeds, in grid order, each once. A scenario
    entry's own ``seeds`` replace the top-level ``seeds`` for its scenarios."""
    runs, seen = [], set()
    for entry in config["scenarios"]:
        for sc in expand_scenarios([entry]):
            for method in config["methods"]:
                for seed in entry.get("seeds") or config["seeds"]:
                    run = Run(sc["dataset"], sc["arch"], method, sc["noise"], sc["rate"], int(seed))
                    if run not in seen:
                        seen.add(run)
                        runs.append(run)
    return runs


def scenario_keys(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """The distinct (dataset, arch, noise, rate, seed) of ``runs``, in grid order."""
    seen, out = set(), []
    for r in runs:
        key = (r.dataset, r.arch, r.noise, r.rate, r.seed)
        if key not in seen:
            seen.add(key)
            out.append(dict(zip(("dataset", "arch", "noise", "rate", "seed"), key)))
    return out


def scenario_wildcards(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario key as the wildcards of its paths: the rate as written there (:func:`format_rate`)."""
    return {**scenario, "rate": format_rate(scenario["rate"])}
