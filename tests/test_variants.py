"""Method variants (issue 20): a config names variants of a method with settings of their own, and
each runs through the whole DAG under its own name."""
from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from alsofilter.config import ConfigError, check_config, expand_runs, training_settings
from alsofilter.config.settings import TrainConfig, base_method
from alsofilter.names import detector_label, method_label

REPO = pathlib.Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]

VARIANT_CONFIG = {
    "experiment": "variants", "device": "cpu", "threads": 1, "stall_timeout": 120, "data_dir": "data",
    "scenarios": [{"dataset": "digits", "arch": "resnet18", "noise": "symmetric", "rate": 0.4}],
    "methods": ["also-min", "also-min-da"],
    "variants": {"also-min-da": {"method": "also-min", "also_mode": "descent-ascent", "pi_lr": 0.01}},
    "seeds": [3], "signals": ["loss", "weight"],
    "crossval": {"folds": 2, "detectors": []},
    "downstream": {"detectors": ["also-min-da.weight.bmm"], "modes": ["drop"]},
    "training": {"epochs": 3, "width": 4, "batch_size": 128, "pi_lr": 0.003},
    "noise_options": {"symmetric_include_true": True}, "bmm": {"n_iter": 10},
}


@pytest.fixture
def config(tmp_path):
    config = copy.deepcopy(VARIANT_CONFIG)
    (tmp_path / "data").mkdir()
    config["data_dir"] = str(tmp_path / "data")
    return config


def rejects(config, *fragments):
    with pytest.raises(ConfigError) as info:
        check_config(config)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_a_variant_runs_with_its_method_and_its_settings(config):
    check_config(config)
    runs = {r.method: r for r in expand_runs(config)}
    assert set(runs) == {"also-min", "also-min-da"}
    plain, variant = (training_settings(config, runs[m]) for m in ("also-min", "also-min-da"))
    assert variant["method"] == plain["method"] == "also-min"
    assert variant["also_mode"] == "descent-ascent" and "also_mode" not in plain
    assert (variant["pi_lr"], plain["pi_lr"]) == (0.01, 0.003)      # the variant's wins over training
    assert TrainConfig.from_dict(variant).also_mode == "descent-ascent"


def test_names_of_variants():
    assert base_method("also-min-da") == "also-min" and base_method("adamw-nowd") == "adamw"
    assert base_method("also-max") == "also-max"
    with pytest.raises(ValueError, match="neither a method"):
        base_method("also-mid")
    assert method_label("also-min-da") == "ALSO-min-da"
    assert detector_label("also-min-da", "weight", "bmm") == "ALSO-min-da π + BMM"


def test_bad_variants_are_refused_by_name(config):
    bad = copy.deepcopy(config)
    bad["variants"]["also-min-da"]["also_mdoe"] = "descent-ascent"
    rejects(bad, "variants.also-min-da", "also_mdoe", "also_mode")
    bad = copy.deepcopy(config)
    bad["variants"]["also-min-da"]["also_mode"] = "sideways"
    rejects(bad, "variants.also-min-da.also_mode", "'sideways'", "descent-ascent")
    bad = copy.deepcopy(config)
    bad["variants"]["also-min-da"]["method"] = "adamw"
    rejects(bad, "variants.also-min-da.method", "'adamw'", "variant of 'also-min'")
    bad = copy.deepcopy(config)
    bad["variants"] = {"da": {"method": "also-min"}}
    rejects(bad, "variants", "'da'")
    bad = copy.deepcopy(config)
    bad["methods"] = ["also-min", "also-min-db"]
    rejects(bad, "methods[1]", "'also-min-db'", "did you mean 'also-min-da'", "variants")


def test_a_variant_runs_through_the_whole_pipeline(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = workdir / "variants.yaml"
    configfile.write_text(yaml.safe_dump(VARIANT_CONFIG))
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", "--configfile",
                           str(configfile)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    results = workdir / "results" / "variants"
    run = results / "runs" / "digits" / "resnet18" / "also-min-da" / "symmetric-0.4-seed3"
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["method"] == "also-min-da"
    assert provenance["settings"]["method"] == "also-min"
    assert provenance["settings"]["also_mode"] == "descent-ascent"
    plain = json.loads((run.parents[1] / "also-min" / run.name / "provenance.json").read_text())
    assert plain["settings"].get("also_mode", "extragrad") == "extragrad"
    for name in ("signals.npz", "mixture.npz", "metrics.csv", "suspects.html"):
        assert (run / name).exists(), name
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary.loc[summary.method == "also-min-da", "signal"]) == {"loss", "weight"}
    board = pd.read_csv(results / "tables" / "leaderboard.csv")
    assert "ALSO-min-da π" in set(board["detector"])
    downstream = pd.read_csv(results / "tables" / "downstream.csv")
    assert "also-min-da.weight.bmm" in set(downstream["detector"])
    assert (results / "figures" / "auc_per_epoch.png").stat().st_size > 1000


@pytest.mark.parametrize("base, overlay, seeds, methods", [
    ("config.yaml", "config/demo_3seeds.yaml", {1, 2, 3}, {"adamw", "also-min", "also-min-da"}),
    ("config.yaml", "config/also_min_da.yaml", {1, 2}, {"adamw", "also-min", "also-min-da"}),
    ("config/cifar10_cpu.yaml", "config/also_min_da.yaml", {42}, {"adamw", "also-min", "also-min-da"}),
    ("config/cifar10_cpu.yaml", "config/cifar10_cpu_3seeds.yaml", {42, 43, 44}, {"adamw", "also-min", "also-min-da"}),
    ("config/cifar10_cpu.yaml", "config/also_min_da.yaml config/cifar10_cpu_sym08.yaml", {42},
     {"adamw", "also-min", "also-min-da"}),
])
def test_shipped_overlays_validate_on_their_base(base, overlay, seeds, methods):
    # An overlay is merged over its base as `--configfile base overlay` does (Snakemake's own
    # update_config); the result must pass the checks and plan the runs its header promises.
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / base).read_text())
    for name in overlay.split():
        update_config(config, yaml.safe_load((REPO / name).read_text()))
    check_config(config, check_files=False)
    runs = expand_runs(config)
    assert {r.seed for r in runs} == seeds and {r.method for r in runs} == methods
    da = next(r for r in runs if r.method == "also-min-da")
    assert training_settings(config, da)["also_mode"] == "descent-ascent"
