"""Pipeline configuration: the schema (the one source of every setting), the checks it cannot
express, the run grid, datasets and stage sections. ``workflow/rules/common.smk`` reads it here."""
from alsofilter.config.checks import check_config
from alsofilter.config.datasets import (DATASET_DEFAULTS, dataset_spec, dataset_train_size, human_labels_path,
                                        noise_spec, resolved_settings, training_settings)
from alsofilter.config.grid import (SCENARIO_KEYS, Run, expand_runs, expand_scenarios, format_rate, scenario_keys,
                                    scenario_wildcards)
from alsofilter.config.schema import SCHEMA_PATH, ConfigError, validate
from alsofilter.config.sections import (CROSSVAL_DETECTORS, MODES, TRAINING_RULES, crossval_settings,
                                        downstream_settings, ladder_sizes, leaderboard_detectors, pixel_classifier_setting,
                                        suspects_top_n,
                                        training_gpus)

__all__ = ["check_config", "DATASET_DEFAULTS", "dataset_spec", "dataset_train_size", "human_labels_path",
           "noise_spec", "resolved_settings", "training_settings", "SCENARIO_KEYS", "Run", "expand_runs",
           "expand_scenarios", "format_rate", "scenario_keys", "scenario_wildcards", "SCHEMA_PATH", "ConfigError", "validate",
           "CROSSVAL_DETECTORS", "MODES", "crossval_settings", "downstream_settings", "ladder_sizes", "leaderboard_detectors",
           "pixel_classifier_setting", "suspects_top_n", "TRAINING_RULES", "training_gpus"]
