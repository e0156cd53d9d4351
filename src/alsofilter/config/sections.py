"""The config's stage sections (cross-validation, downstream, suspects) with their defaults, and
the detectors an experiment has."""
from __future__ import annotations

from typing import Any, Mapping

from alsofilter.config import schema
from alsofilter.config.grid import _as_list
from alsofilter.config.settings import base_method
from alsofilter.detectors.signals import SIGNALS

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
            needs = SIGNALS[signal].requires if signal in SIGNALS else ()
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
