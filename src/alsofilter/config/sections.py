"""The config's stage sections (cross-validation, downstream, suspects, the scale ladder) with their
defaults, and the detectors an experiment has."""
from __future__ import annotations

from typing import Any, Mapping

from alsofilter.config import schema
from alsofilter.config.grid import _as_list, expand_scenarios
from alsofilter.config.settings import base_method
from alsofilter.names import SIGNAL_INPUTS

#: detectors with cross-validated training of their own (:mod:`alsofilter.detectors.confident_learning`)
CROSSVAL_DETECTORS = schema.enum("crossval.detectors")
#: what a detector's decision may do to the training set (:mod:`alsofilter.detectors.decisions`)
MODES = schema.enum("downstream.modes")


def crossval_settings(config: Mapping[str, Any]) -> tuple[int, list[str]]:
    """``(folds, detectors)`` of the config's ``crossval`` section, with the defaults."""
    crossval = schema.section(config, "crossval")
    return int(crossval["folds"]), list(crossval["detectors"])


def pixel_classifier_setting(config: Mapping[str, Any]) -> str:
    """``crossval.pixel_classifier`` (logreg, svc or knn), with the default."""
    return str(schema.section(config, "crossval")["pixel_classifier"])


def leaderboard_detectors(config: Mapping[str, Any]) -> list[str]:
    """Every detector this experiment's leaderboard has, by its downstream name
    (:mod:`alsofilter.detectors.decisions`): each method's signals that the method records (π only for
    ALSO) with the BMM and the GMM decision, then the cross-validated detectors."""
    names = []
    for method in _as_list(config.get("methods", [])):
        for signal in _as_list(config.get("signals", [])):
            needs = SIGNAL_INPUTS.get(signal, ())
            if "weight" in needs and base_method(str(method)) == "adamw":   # π: ALSO runs only
                continue
            names += [f"{method}.{signal}.{decision}" for decision in ("bmm", "gmm")]
    return names + crossval_settings(config)[1]


def downstream_settings(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(detectors, modes)`` of the ``downstream`` section: the detectors (``all`` expanded,
    without the references) and the modes; no detectors = the stage is off."""
    section = schema.section(config, "downstream")
    detectors = section["detectors"]
    if detectors == "all":
        detectors = leaderboard_detectors(config)
    return list(detectors), list(section["modes"])


#: rules that train a network: they share one definition of their resources (common.smk)
TRAINING_RULES = ("train", "crossval_fold", "retrain")


def training_gpus(config: Mapping[str, Any]) -> int:
    """GPUs each training job asks for: 1 where the experiment's ``device`` is ``cuda``,
    ``cuda:N`` or ``auto``, else 0. Decided from the config alone, never from the machine that
    plans the jobs (a SLURM login node has no GPU driver). Where no GPU is free the job runs
    anyway: Snakemake caps a job's ``gpu`` at the ``--resources gpu=N`` a profile declares
    (``profiles/local`` counts the visible GPUs, 0 on a CPU machine), and ``auto`` falls back to
    the CPU inside the job."""
    device = str(config.get("device", schema.defaults("")["device"]))
    return 1 if device == "auto" or device.startswith("cuda") else 0


def suspects_top_n(config: Mapping[str, Any]) -> int:
    """``suspects.top_n`` of the config (its schema default when absent)."""
    return int(schema.section(config, "suspects")["top_n"])


def ladder_sizes(config: Mapping[str, Any]) -> dict[str, int] | None:
    """With ``ladder: true``: each rung's dataset -> its training-set size (``datasets.<name>.subset.train``),
    smallest first; None for an experiment that is not a ladder. A :class:`~alsofilter.config.schema.ConfigError`
    names what makes the scenarios no ladder: scenarios that differ in more than the dataset, fewer than two
    datasets, a dataset without a subset size, two of one size."""
    if not config.get("ladder", False):
        return None
    scenarios = expand_scenarios(config["scenarios"])
    fixed = sorted({(sc["arch"], sc["noise"], sc["rate"]) for sc in scenarios})
    if len(fixed) != 1:
        schema.fail("ladder", True, f"the scenarios must differ in the dataset only; they have (arch, noise, rate) {fixed}")
    sizes = {}
    for name in dict.fromkeys(sc["dataset"] for sc in scenarios):
        subset = ((config.get("datasets") or {}).get(name) or {}).get("subset") or {}
        if subset.get("train") is None:
            schema.fail(f"datasets.{name}.subset.train", None, "a ladder's rungs each need a training-set size")
        sizes[name] = int(subset["train"])
    if len(sizes) < 2:
        schema.fail("ladder", True, f"a ladder needs at least two datasets (rungs); the scenarios have {list(sizes)}")
    if len(set(sizes.values())) < len(sizes):
        schema.fail("ladder", True, f"two rungs have the same training-set size: {sizes}")
    return dict(sorted(sizes.items(), key=lambda kv: kv[1]))
