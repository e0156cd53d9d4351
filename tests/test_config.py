"""Bad input (issue 4): every rejected config names the key, the bad value and what is allowed.

Each case is checked on :func:`alsofilter.config.check_config` directly; a few also through a
real ``snakemake -n`` (JSON schema + check_config), and the wildcard constraints through targets
that are not in the config.
"""
from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import yaml

from alsofilter.config import ConfigError, check_config, dataset_spec, expand_runs, training_settings
from conftest import write_image_folder_fixture, write_npz_fixture

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def base(tmp_path):
    """A valid config (the tiny one) whose data_dir exists."""
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    (tmp_path / "data").mkdir()
    config["data_dir"] = str(tmp_path / "data")
    check_config(config)
    return config


def rejects(config, *fragments):
    with pytest.raises(ConfigError) as info:
        check_config(config)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, "0.4", True])
def test_rate_outside_unit_interval(base, rate):
    base["scenarios"][0]["rate"] = rate
    rejects(base, "scenarios[0].rate", repr(rate), "[0, 1)")


def test_rate_in_a_list(base):
    base["scenarios"][0]["rate"] = [0.2, 1.0]
    rejects(base, "scenarios[0].rate", "1.0", "[0, 1)")


@pytest.mark.parametrize("key, value, allowed", [
    ("noise", "gaussian", "symmetric"),
    ("arch", "resnet50", "resnet18"),
    ("dataset", "mnist", "digits"),
])
def test_unknown_scenario_values(base, key, value, allowed):
    base["scenarios"][1][key] = value
    rejects(base, f"scenarios[1].{key}", repr(value), allowed)


def test_unknown_human_noise_name(base):
    base["scenarios"][0] = {"dataset": "digits", "arch": "resnet18", "noise": "human:best"}
    rejects(base, "scenarios[0].noise", "'human:best'", "human:worst")


def test_unknown_method_and_signal(base):
    base["methods"] = ["adamw", "sgd"]
    rejects(base, "methods", "'sgd'", "also-min")
    base["methods"] = ["adamw"]
    base["signals"] = ["entropy"]
    rejects(base, "signals", "'entropy'", "loss")


def test_asymmetric_without_mapping(base, tmp_path):
    npz = write_npz_fixture(tmp_path / "mine.npz", n=40)
    base["datasets"] = {"mine": {"format": "npz", "path": str(npz), "training": {"batch_size": 8}}}
    base["scenarios"] = [{"dataset": "mine", "arch": "resnet18", "noise": "asymmetric", "rate": 0.3}]
    rejects(base, "scenarios[0].noise", "'asymmetric'", "'mine'", "random-pairs", "asymmetric_pairs")
    base["datasets"]["mine"]["asymmetric_pairs"] = [[0, 1], [1, 2]]
    check_config(base)
    del base["datasets"]["mine"]["asymmetric_pairs"]
    base["noise_options"]["asymmetric_mapping"] = "random-pairs"
    check_config(base)


def test_bad_asymmetric_pairs(base):
    base["datasets"] = {"digits": {"asymmetric_pairs": [[1, 1]]}}
    rejects(base, "datasets.digits.asymmetric_pairs", "[[1, 1]]", "source != target")


@pytest.mark.parametrize("section", ["training", "datasets"])
@pytest.mark.parametrize("key, value", [("epochs", 0), ("epochs", -3), ("epochs", 2.5),
                                        ("batch_size", 0), ("batch_size", -64)])
def test_non_positive_epochs_or_batch(base, section, key, value):
    if section == "training":
        base["training"][key] = value
        where = f"training.{key}"
    else:
        base["datasets"] = {"digits": {"training": {key: value}}}
        where = f"datasets.digits.training.{key}"
    rejects(base, where, repr(value), "positive integer")


def test_other_training_values(base):
    base["training"]["lr"] = 0
    rejects(base, "training.lr", "0", "> 0")
    base["training"]["lr"] = 1e-3
    base["training"]["also_mode"] = "sgd"
    rejects(base, "training.also_mode", "'sgd'", "extragrad")


def test_batch_larger_than_dataset(base):
    base["training"]["batch_size"] = 2000
    rejects(base, "training.batch_size", "2000", "1437 training samples", "1..1437")
    base["training"]["batch_size"] = 1437
    check_config(base)
    base["datasets"] = {"digits": {"training": {"batch_size": 1500}}}
    rejects(base, "datasets.digits.training.batch_size", "1500", "1437")


def test_batch_larger_than_own_data(base, tmp_path):
    npz = write_npz_fixture(tmp_path / "mine.npz", n=30)
    folder = write_image_folder_fixture(tmp_path / "imgs", per_class=4)
    base["datasets"] = {"mine": {"format": "npz", "path": str(npz)},
                        "imgs": {"format": "image_folder", "path": str(folder), "training": {"batch_size": 12}}}
    base["scenarios"] = [{"dataset": ["mine", "imgs"], "arch": "resnet18", "noise": "symmetric", "rate": 0.2}]
    rejects(base, "training.batch_size", "128", "'mine' has 30 training samples")
    base["training"]["batch_size"] = 30
    check_config(base)
    base["datasets"]["imgs"]["training"]["batch_size"] = 13
    rejects(base, "datasets.imgs.training.batch_size", "13", "'imgs' has 12 training samples")


def test_missing_data_dir(base, tmp_path):
    base["scenarios"][0]["dataset"] = "cifar10"
    base["training"]["batch_size"] = 64
    base["data_dir"] = str(tmp_path / "no_such_dir")
    rejects(base, "data_dir", "no_such_dir", "does not exist", "download: true")
    base["datasets"] = {"cifar10": {"options": {"download": True}}}
    check_config(base)  # the job creates it and fetches the files
    base["datasets"] = {}
    base["scenarios"][0]["dataset"] = "digits"
    check_config(base)  # digits needs no data_dir


def test_missing_own_data(base, tmp_path):
    base["datasets"] = {"mine": {"format": "npz", "path": str(tmp_path / "absent.npz")}}
    base["scenarios"][0]["dataset"] = "mine"
    rejects(base, "datasets.mine.path", "absent.npz", "does not exist")
    base["datasets"] = {"mine": {"path": "x.npz"}}
    rejects(base, "datasets.mine.format", "None", "npz")
    base["datasets"] = {"mine": {"format": "tiff", "path": "x"}}
    rejects(base, "datasets.mine.format", "'tiff'", "image_folder")
    base["datasets"] = {"../evil": {"format": "npz", "path": "x.npz"}}
    rejects(base, "datasets", "'../evil'", "must match")


@pytest.mark.parametrize("seeds, fragment", [([], "non-empty list"), (["a"], "'a'"), ([1.5], "1.5"),
                                             ([True], "True"), ([-1], "-1"), (3, "non-empty list"),
                                             ([1, 1], "each entry once")])
def test_bad_seeds(base, seeds, fragment):
    base["seeds"] = seeds
    rejects(base, "seeds", fragment)


# ------------------------------------------------------------------------------ human labels
def _human_config(base, path):
    base["scenarios"] = [{"dataset": "digits", "arch": "resnet18", "noise": "human:worst"}]
    base["noise_options"]["human_labels"] = str(path)
    return base


def test_human_label_file_missing(base, tmp_path):
    rejects(_human_config(base, tmp_path / "CIFAR-10_human.pt"), "noise_options.human_labels",
            "CIFAR-10_human.pt", "does not exist")


def test_human_label_file_wrong_length(base, tmp_path):
    np.savez(tmp_path / "labels.npz", worse_label=np.zeros(100, dtype=np.int64))
    rejects(_human_config(base, tmp_path / "labels.npz"), "noise_options.human_labels", "labels.npz",
            "100 labels", "1437 samples")
    np.savez(tmp_path / "right.npz", worse_label=np.zeros(1437, dtype=np.int64))
    config = _human_config(base, tmp_path / "right.npz")
    check_config(config)
    runs = expand_runs(config)
    assert {(r.noise, r.rate_str) for r in runs} == {("human-worst", "0.0")}


def test_human_label_file_without_the_column(base, tmp_path):
    np.savez(tmp_path / "labels.npz", aggre_label=np.zeros(1437, dtype=np.int64))
    rejects(_human_config(base, tmp_path / "labels.npz"), "noise_options.human_labels", "'worse_label'",
            "aggre_label")


def test_human_noise_rules(base, tmp_path):
    base["scenarios"] = [{"dataset": "digits", "arch": "resnet18", "noise": "human:worst"}]
    rejects(base, "scenarios[0].noise", "human:worst", "noise_options.human_labels")
    np.savez(tmp_path / "l.npz", worse_label=np.zeros(1437, dtype=np.int64))
    base["noise_options"]["human_labels"] = str(tmp_path / "l.npz")
    base["scenarios"][0]["rate"] = 0.2
    rejects(base, "scenarios[0].rate", "0.2", "takes no rate")
    base["scenarios"] = [{"dataset": "digits", "arch": "resnet18", "noise": "symmetric"}]
    rejects(base, "scenarios[0].rate", "needs a rate")


# ------------------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize("where, mutate, fragments", [
    ("top", lambda c: c.update(epcohs=3), ["'epcohs' is unknown", "allowed keys"]),
    ("training", lambda c: c["training"].update(epcohs=3), ["training.epcohs", "did you mean 'epochs'"]),
    ("scenario", lambda c: c["scenarios"][0].update(rates=0.2), ["scenarios[0].rates", "did you mean 'rate'"]),
    ("noise_options", lambda c: c["noise_options"].update(human_label="x"),
     ["noise_options.human_label", "did you mean 'human_labels'"]),
    ("bmm", lambda c: c["bmm"].update(iterations=3), ["bmm.iterations", "n_iter"]),
    ("datasets", lambda c: c.update(datasets={"digits": {"option": {}}}),
     ["datasets.digits.option", "did you mean 'options'"]),
    ("options", lambda c: c.update(datasets={"digits": {"options": {"verify_md5": False}}}),
     ["datasets.digits.options.verify_md5", "test_fraction"]),
])
def test_typo_keys(base, where, mutate, fragments):
    mutate(base)
    rejects(base, *fragments)


def test_dataset_spec_and_settings(base, tmp_path):
    npz = write_npz_fixture(tmp_path / "mine.npz", n=40)
    base["datasets"] = {"mine": {"format": "npz", "path": str(npz), "training": {"epochs": 7}},
                        "cifar10": {"options": {"verify_md5": False}}}
    assert dataset_spec(base, "mine") == {"format": "npz", "path": str(npz)}
    assert dataset_spec(base, "cifar10") == {"format": "cifar10", "path": None, "verify_md5": False}
    run = expand_runs(dict(base, scenarios=[{"dataset": "mine", "arch": "resnet18", "noise": "symmetric",
                                             "rate": 0.1}]))[0]
    settings = training_settings(base, run)
    assert settings["epochs"] == 7 and settings["batch_size"] == 128 and settings["method"] == "adamw"


# ------------------------------------------------------------------------------ through snakemake
def snakemake_dry(workdir, config, *targets):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", *targets,
                             "--configfile", str(workdir / "config.yaml")],
                            cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    return result.returncode, result.stdout + result.stderr


def test_snakemake_reports_bad_values(base, tmp_path):
    config = copy.deepcopy(base)
    config["scenarios"][0]["rate"] = 1.5
    config["training"]["batch_size"] = 4096
    code, out = snakemake_dry(tmp_path, config)
    assert code != 0 and "scenarios[0].rate" in out and "1.5" in out and "[0, 1)" in out
    config["scenarios"][0]["rate"] = 0.4
    code, out = snakemake_dry(tmp_path, config)
    assert code != 0 and "training.batch_size" in out and "4096" in out and "1437 training samples" in out


def test_snakemake_reports_typo_and_missing_data_dir(base, tmp_path):
    config = copy.deepcopy(base)
    config["training"]["epcohs"] = 3
    code, out = snakemake_dry(tmp_path, config)
    assert code != 0 and "epcohs" in out and ("Additional properties" in out or "unknown" in out)
    config = copy.deepcopy(base)
    config["scenarios"][0]["dataset"] = "cifar10"
    config["training"]["batch_size"] = 64
    config["data_dir"] = str(tmp_path / "nowhere")
    code, out = snakemake_dry(tmp_path, config)
    assert code != 0 and "data_dir" in out and "nowhere" in out and "does not exist" in out


def test_snakemake_reports_human_label_length(base, tmp_path):
    np.savez(tmp_path / "labels.npz", worse_label=np.zeros(10, dtype=np.int64))
    code, out = snakemake_dry(tmp_path, _human_config(copy.deepcopy(base), tmp_path / "labels.npz"))
    assert code != 0 and "labels.npz" in out and "has 10 labels" in out and "1437 samples" in out


def test_wildcards_only_match_config_values(base, tmp_path):
    """A target outside the config (other rate, '..', shell metacharacters) matches no rule."""
    code, out = snakemake_dry(tmp_path, base, "results/tiny/noise/digits/symmetric-0.4-seed3.csv")
    assert code == 0, out
    for target in ("results/tiny/noise/digits/symmetric-0.5-seed3.csv",
                   "results/tiny/noise/../x/symmetric-0.4-seed3.csv",
                   "results/tiny/noise/digits/symmetric-0.4-seed3;touch pwned.csv",
                   "results/tiny/runs/digits/resnet18/adamw/symmetric-0.4-seed3$(id)/metrics.csv"):
        code, out = snakemake_dry(tmp_path, base, target)
        assert code != 0 and ("MissingRuleException" in out or "No rule to produce" in out), (target, out)
    assert not (tmp_path / "pwned.csv").exists()


def test_relative_cost_schedules_longest_runs_first():
    from alsofilter.config.settings import relative_cost

    base = {"arch": "resnet18", "method": "adamw", "width": 16, "epochs": 16}
    r18_adamw = relative_cost(base)
    r18_also = relative_cost({**base, "method": "also-min"})
    r34_adamw = relative_cost({**base, "arch": "resnet34"})
    r34_also = relative_cost({**base, "arch": "resnet34", "method": "also-min"})
    assert r34_also > r34_adamw == r18_also > r18_adamw > 0
    assert relative_cost({**base, "method": "also-min", "also_mode": "optimistic"}) == r18_adamw  # one pass
    assert relative_cost({**base, "width": 32}) == pytest.approx(4 * r18_adamw)
    assert relative_cost(base, training_samples=25_000) == pytest.approx(r18_adamw / 2)


def test_an_svc_pixel_classifier_that_would_take_hours_is_refused(base):
    base["crossval"] = {"folds": 5, "detectors": ["cleanlab_pixels"], "pixel_classifier": "svc"}
    check_config(base)                                   # digits: 1437 images, seconds
    base["scenarios"] = [{"dataset": "cifar10", "arch": "resnet18", "noise": "symmetric", "rate": 0.4}]
    with pytest.raises(ConfigError, match=r"pixel_classifier 'svc'.*\(dataset 'cifar10': 50000 training images\)"):
        check_config(base, check_files=False)
    base["datasets"] = {"cifar10": {"subset": {"train": 5000, "test": 1000}}}
    check_config(base, check_files=False)                # the 5 000-image subset: minutes
    base["crossval"]["pixel_classifier"] = "forest"
    rejects(base, "crossval.pixel_classifier", "forest")
