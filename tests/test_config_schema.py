"""One source of truth (issue 17): every setting's key, type, default and range is written once, in
``alsofilter/config/config.schema.yaml``; TrainConfig, the checks and the name lists derive from it,
so a key added there is valid everywhere and cannot drift."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pathlib

import pytest
import yaml

from alsofilter.config import ConfigError, check_config, schema, settings
from alsofilter.config.settings import TrainConfig
from alsofilter.data.noise import NOISE_TYPES
from alsofilter.detectors.bmm import fit_per_epoch
from alsofilter.training.also import MODES
from alsofilter.training.models import STAGE_BLOCKS
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def config(tmp_path):
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    (tmp_path / "data").mkdir()
    config["data_dir"] = str(tmp_path / "data")
    return config


def test_train_config_is_the_schema():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    keys = {**schema.properties("$defs.training"), **schema.properties("$defs.run")}
    assert list(fields) == list(keys)
    for name, node in keys.items():
        assert fields[name].default == node["x-default"], name
        assert getattr(TrainConfig(), name) == node["x-default"]


def test_name_lists_are_the_schema_enums():
    assert settings.METHODS == schema.enum("$defs.method") == ("adamw", "also-min", "also-max")
    assert tuple(STAGE_BLOCKS) == settings.ARCHS == schema.enum("$defs.arch")
    assert MODES == schema.enum("$defs.training.also_mode")


def test_the_mixture_defaults_are_the_estimators():
    params = inspect.signature(fit_per_epoch).parameters
    bmm = schema.defaults("bmm")
    assert (bmm["n_iter"], bmm["lower_percentile"], bmm["upper_percentile"]) == (
        params["n_iter"].default, params["lower"].default, params["upper"].default)


def test_validate_fills_defaults_without_touching_the_training_section(config):
    filled = schema.validate(config)
    assert filled["bmm"] == {"n_iter": 10, "lower_percentile": 5, "upper_percentile": 95}
    assert filled["stall_timeout"] == config["stall_timeout"] and filled["threads"] >= 1
    # training defaults are x-default: a filled config still says which settings the user gave
    assert filled["training"] == config["training"]
    assert "bmm" not in config or config["bmm"] == config.get("bmm")     # the input is not changed


def test_a_key_added_to_the_schema_is_valid_everywhere(config, monkeypatch):
    patched = copy.deepcopy(schema.load_schema())
    patched["$defs"]["training"]["properties"]["label_smoothing"] = {
        "type": "number", "minimum": 0, "maximum": 1, "x-default": 0.0, "description": "a new setting"}
    monkeypatch.setattr(schema, "load_schema", lambda: patched)
    # the dataclass derived from the schema has the field, with its default and its checks
    derived = dataclasses.make_dataclass("Derived", settings._fields())
    assert derived().label_smoothing == 0.0
    # the config accepts it, in the training section and per dataset ...
    config["training"]["label_smoothing"] = 0.1
    config.setdefault("datasets", {})["digits"] = {"training": {"label_smoothing": 0.2}}
    check_config(config)
    # ... and words a bad value from the schema's range
    config["training"]["label_smoothing"] = 2
    with pytest.raises(ConfigError, match=r"'training\.label_smoothing': 2 is not allowed; must be a number in \[0, 1\]"):
        check_config(config)


def test_unknown_keys_are_named_with_a_suggestion(config):
    config["training"]["epcohs"] = 3
    with pytest.raises(ConfigError, match=r"'training\.epcohs' is unknown \(did you mean 'epochs'\?\)"):
        check_config(config)
    with pytest.raises(ValueError, match=r"training\.lr.*must be a number > 0"):
        TrainConfig(lr=0)


def test_noise_kinds_are_those_the_scenarios_accept(config):
    for noise in NOISE_TYPES:
        config["scenarios"] = [{"dataset": "digits", "arch": "resnet18", "noise": noise, "rate": 0.2}]
        check_config(config)


@pytest.mark.parametrize("device, gpus", [("auto", 1), ("cuda", 1), ("cuda:1", 1), ("cpu", 0), ("mps", 0), (None, 1)])
def test_training_jobs_ask_for_a_gpu_from_the_config_alone(device, gpus):
    from alsofilter.config import training_gpus

    assert training_gpus({} if device is None else {"device": device}) == gpus   # default device: auto


#: values of every kind a setting can be given: each training and run key is tried with each
PROBES = [None, True, False, 0, 1, -1, 2, 1.0, 0.5, -0.5, 1e-5, 1e9, "", "auto", "cuda", "cuda:1", "gpu",
          "extragrad", "adamw", "also-min", "resnet18", "start", "two", "fast", "bf16", "none", [1], {}]


@pytest.mark.parametrize("path, where", [("$defs.training", "training"), ("$defs.run", None)])
def test_the_training_check_without_jsonschema_agrees_with_jsonschema(path, where):
    # TrainConfig checks its settings with check_settings (the training path runs where jsonschema
    # is not installed); on every key and every kind of value it accepts and refuses what
    # jsonschema does, with the same message
    defaults = {k: v["x-default"] for k, v in schema.properties(path).items()}
    tried = refused = 0
    for key in defaults:
        for value in PROBES:
            values = {**defaults, key: value}
            try:
                schema.validate(values, path, where=where)
                expected = None
            except ConfigError as err:
                expected = str(err)
            try:
                schema.check_settings(values, path, where=where)
                got = None
            except ConfigError as err:
                got = str(err)
            assert got == expected, (key, value)
            tried, refused = tried + 1, refused + (expected is not None)
    assert refused > tried / 2 > 0      # the probes do exercise refusals
    with pytest.raises(ConfigError, match=r"'training\.epcohs' is unknown \(did you mean 'epochs'\?\)"):
        schema.check_settings({"epcohs": 3}, "$defs.training", where="training")
    with pytest.raises(NotImplementedError, match="minItems"):   # a keyword it does not implement
        schema.check_settings({"methods": ["adamw"]}, "")


def test_cuda_graph_compile_with_the_extragradient_is_refused_at_dag_time(config):
    # its step reads the first pass's outputs after the second replay (settings.compile_conflict)
    config["training"]["compile"] = "reduce-overhead"
    config["methods"] = ["adamw", "also-min"]
    with pytest.raises(ConfigError, match=r"'training\.compile': 'reduce-overhead' is not allowed for also-min: "
                                          r".*CUDA graphs.*refused until it has been measured"):
        check_config(config)
    config["training"]["also_mode"] = "descent-ascent"          # one pass per step: allowed
    check_config(config)
    config["training"]["also_mode"] = "extragrad"
    config["training"]["compile"] = "default"                   # no CUDA graphs: allowed
    config["variants"] = {"also-min-g": {"compile": "max-autotune"}}
    config["methods"] = ["adamw", "also-min", "also-min-g"]
    with pytest.raises(ConfigError, match=r"'variants\.also-min-g\.compile': 'max-autotune' is not allowed"):
        check_config(config)
