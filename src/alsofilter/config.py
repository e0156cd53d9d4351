"""Pipeline configuration: datasets, per-dataset defaults, the checks a schema cannot express, run grid.

The Snakefile validates ``config.yaml`` against ``workflow/schemas/config.schema.yaml`` (types,
allowed values, no unknown keys) and then calls :func:`check_config` and :func:`expand_runs`.
:func:`check_config` repeats the key checks (so that it is complete when called on its own) and
adds everything that needs Python: known names, cross-field rules, files on disk, dataset sizes.
Every error is a :class:`ConfigError` whose message names the key, the bad value and what is
allowed.

Datasets
--------
A scenario's ``dataset`` is a built-in name (``digits``, ``cifar10``, ``cifar100``) or any name
configured under ``datasets``::

    datasets:
      cifar10:                      # built-ins need no format
        options: {verify_md5: true, download: false}
      mydata:                       # one's own data
        format: npz                 # npz | image_folder | cifar10 | cifar100 | digits
        path: data/mydata.npz       # the .npz file, the image folder, or a CIFAR data_dir
        training: {epochs: 40}      # per-dataset training settings
        human_labels: labels.csv    # per-dataset label file for human:<name> noise
        asymmetric_pairs: [[0, 1]]  # class mapping for asymmetric noise (source, target)

Relative paths are relative to the directory Snakemake runs in. CIFAR is read from ``path`` or
else the top-level ``data_dir``.

When files are checked
----------------------
At DAG time (every ``snakemake`` call, dry runs included): the ``data_dir`` folder must exist
when a scenario reads CIFAR from it, unless that dataset has ``options.download: true`` (then the
job creates it and fetches the files); a user dataset's ``path`` must exist; a human-label file
must exist, hold the named column and, where the training-set size is known without loading the
images, have that many labels. The CIFAR files themselves are checked when a job loads them (a
clear error naming the missing file), so a dry run plans without the data.

Training settings of a run are resolved in this order (later wins):
:class:`~alsofilter.settings.TrainConfig` defaults → :data:`DATASET_DEFAULTS` for its dataset's
format → the config's ``training`` section → the config's ``datasets.<name>.training`` section.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import numbers
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .data import DATASETS, FORMATS
from .prepare_data import check_subset
from .noise import (ASYMMETRIC_MAPPING_KINDS, ASYMMETRIC_MAPPINGS, HUMAN_NOISE_NAMES, NOISE_TYPES,
                    canonical_noise, is_human_noise)
from .settings import ALSO_MODES, ARCHS, INT_SETTINGS, LOSS_SOURCES, METHODS, PRECISIONS, TrainConfig
from .signals import SIGNALS

# Per-dataset defaults. CIFAR: the authors' settings (SPEC §2, §6). digits (the demo, 1437
# training images of 8x8): a ResNet-18 at width 8 without augmentation (an 8x8 digit shifted
# by a pixel is a different-looking digit, and without it AdamW memorises within ~10 epochs,
# showing the effect the paper is about); pi_lr raised from 1e-5 to 3e-3 because the π step
# scales with N/|B| (22 here vs 781 on CIFAR) and the demo trains 30 instead of 100 epochs.
# One's own data (npz, image_folder) starts from the TrainConfig defaults (CIFAR settings).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"width": 8, "epochs": 30, "batch_size": 64, "crop_padding": 0, "flip": False,
               "pi_lr": 3e-3},
    "cifar10": {"width": 64, "epochs": 100, "batch_size": 64, "crop_padding": 4, "flip": True,
                "pi_lr": 1e-5},
    "cifar100": {"width": 64, "epochs": 100, "batch_size": 64, "crop_padding": 4, "flip": True,
                 "pi_lr": 1e-5},
}

#: keys of each config section (the schema says the same; kept here so check_config is complete)
TOP_KEYS = ("experiment", "device", "threads", "data_dir", "scenarios", "methods", "seeds", "signals",
            "training", "datasets", "noise_options", "bmm", "checkpoint_every",
            "stall_timeout", "crossval", "suspects", "downstream")
REQUIRED_KEYS = ("experiment", "scenarios", "methods", "seeds", "signals")
SCENARIO_KEYS = ("dataset", "arch", "noise", "rate")
DATASET_KEYS = ("format", "path", "options", "training", "human_labels", "asymmetric_pairs", "subset")
NOISE_OPTION_KEYS = ("symmetric_include_true", "asymmetric_mapping", "human_labels")
BMM_KEYS = ("n_iter", "lower_percentile", "upper_percentile")
CROSSVAL_KEYS = ("folds", "detectors")
SUSPECTS_KEYS = ("top_n",)
DOWNSTREAM_KEYS = ("detectors", "modes")
#: how many of a run's most suspicious training images its gallery shows (alsofilter.suspects)
DEFAULT_SUSPECTS_TOP_N = 64
#: detectors with cross-validated training of their own (alsofilter.crossval)
CROSSVAL_DETECTORS = ("cleanlab_network", "cleanlab_pixels")
#: loader options per dataset format
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "digits": ("test_fraction", "split_seed"),
    "cifar10": ("verify_md5", "download"),
    "cifar100": ("verify_md5", "download"),
    "npz": (),
    "image_folder": (),
}
#: names usable as path components: no separators, no leading dot, no shell metacharacters
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
EXPERIMENT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:[0-9]+|mps)$")
TRAINING_RUN_KEYS = ("method", "arch", "seed", "device")  # set per run, not in the config


class ConfigError(ValueError):
    """A configuration value is not acceptable; the message names the key and what is allowed."""


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


def _fail(key: str, value, allowed: str):
    raise ConfigError(f"config key {key!r}: {value!r} is not allowed; {allowed}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------- datasets
def _datasets_section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("datasets") or {}


def dataset_format(config: Mapping[str, Any], name: str) -> str | None:
    """The format of dataset ``name``: its ``datasets.<name>.format``, else the name itself for a
    built-in; None for an unknown name."""
    section = _datasets_section(config).get(name) or {}
    fmt = section.get("format")
    if fmt is None and name in DATASETS:
        fmt = name
    return fmt


def dataset_spec(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What a job needs to load dataset ``name``: ``{"format", "path", **loader options}``
    (the ``dataset_options`` the rules pass to :func:`alsofilter.pipeline.load_pipeline_dataset`)."""
    section = _datasets_section(config).get(name) or {}
    spec = {"format": dataset_format(config, name), "path": section.get("path")}
    spec.update(section.get("options") or {})
    return spec


def dataset_uses_data_dir(config: Mapping[str, Any], name: str) -> bool:
    """True for CIFAR without its own ``path``: its files are read from ``data_dir``."""
    section = _datasets_section(config).get(name) or {}
    return dataset_format(config, name) in ("cifar10", "cifar100") and not section.get("path")


def human_labels_path(config: Mapping[str, Any], name: str) -> str | None:
    """The human-label file of dataset ``name``: ``datasets.<name>.human_labels``, else
    ``noise_options.human_labels``."""
    section = _datasets_section(config).get(name) or {}
    return section.get("human_labels") or (config.get("noise_options") or {}).get("human_labels")


def human_labels_key(config: Mapping[str, Any], name: str) -> str:
    section = _datasets_section(config).get(name) or {}
    return f"datasets.{name}.human_labels" if section.get("human_labels") else "noise_options.human_labels"


def asymmetric_pairs(config: Mapping[str, Any], name: str) -> dict[int, int] | None:
    pairs = (_datasets_section(config).get(name) or {}).get("asymmetric_pairs")
    return None if pairs is None else {int(a): int(b) for a, b in pairs}


def noise_spec(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The noise settings of dataset ``name`` for the ``make_noise`` job."""
    options = dict(config.get("noise_options") or {})
    options["human_labels"] = human_labels_path(config, name)
    options["human_labels_key"] = human_labels_key(config, name)
    pairs = asymmetric_pairs(config, name)
    options["asymmetric_pairs"] = None if pairs is None else [[a, b] for a, b in sorted(pairs.items())]
    return options


def dataset_train_size(config: Mapping[str, Any], name: str) -> int | None:
    """Training-set size of dataset ``name`` when it is known without loading the images
    (digits; CIFAR with MD5 verification on, i.e. the original files; an .npz's ``y``; an image
    folder's file count), else None (then the job checks at start)."""
    from . import data

    spec = dataset_spec(config, name)
    fmt, path = spec.get("format"), spec.get("path")
    subset = (_datasets_section(config).get(name) or {}).get("subset") or {}
    if subset.get("train") is not None:
        return int(subset["train"])   # the full size is checked when the prepare job cuts it
    try:
        if fmt == "digits":
            return data.digits_train_size(spec.get("test_fraction", 0.2))
        if fmt in ("cifar10", "cifar100"):
            return data.CIFAR_TRAIN_SIZE if spec.get("verify_md5", True) else None
        if fmt == "npz" and path and os.path.isfile(path):
            return data.npz_train_size(path)
        if fmt == "image_folder" and path and os.path.isdir(path):
            return len(data.image_folder_entries(path)[1]["train"])
    except (OSError, ValueError) as exc:
        raise ConfigError(f"config key 'datasets.{name}.path': {path!r} cannot be read ({exc})") from None
    return None


# ------------------------------------------------------------------------------------- scenarios
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
    """All training runs: scenarios × methods × seeds."""
    runs = []
    for sc in expand_scenarios(config["scenarios"]):
        for method in config["methods"]:
            for seed in config["seeds"]:
                runs.append(Run(sc["dataset"], sc["arch"], method, sc["noise"], sc["rate"], int(seed)))
    return runs


# ------------------------------------------------------------------------------------- checks
def _check_keys(section, allowed: Iterable[str], where: str) -> None:
    """Unknown keys are an error (a typo must not be silently ignored)."""
    allowed = list(allowed)
    if not isinstance(section, Mapping):
        _fail(where, section, f"must be a mapping with keys {allowed}")
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            full = f"{where}.{key}" if where else str(key)
            raise ConfigError(f"config key {full!r} is unknown{hint}; allowed keys"
                              f"{' in ' + repr(where) if where else ''}: {allowed}")


def _check_names(values, key: str, allowed: Iterable[str], what: str) -> None:
    if not isinstance(values, list) or not values:
        _fail(key, values, f"give a non-empty list of {what} from {list(allowed)}")
    for value in values:
        if value not in allowed:
            _fail(key, value, f"choose from {list(allowed)}")
    if len(set(values)) != len(values):
        _fail(key, values, "list each entry once")


def _check_datasets(config: Mapping[str, Any], check_files: bool) -> None:
    from . import data

    datasets = config.get("datasets")
    if datasets is None:
        return
    if not isinstance(datasets, Mapping):
        _fail("datasets", datasets, "must be a mapping from dataset name to its settings")
    for name, section in datasets.items():
        where = f"datasets.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            _fail("datasets", name, f"a dataset name must match {NAME_PATTERN.pattern} "
                  "(letters, digits, '_' and '-'; it becomes a folder name)")
        section = section or {}
        _check_keys(section, DATASET_KEYS, where)
        fmt = section.get("format", name if name in DATASETS else None)
        if fmt is None:
            _fail(f"{where}.format", None, f"dataset {name!r} is not built in ({list(DATASETS)}); "
                  f"set its format to one of {list(FORMATS)}")
        if fmt not in FORMATS:
            _fail(f"{where}.format", fmt, f"choose one of {list(FORMATS)}")
        if name in DATASETS and fmt != name and not (name == "cifar10" and fmt == "image_folder"):
            _fail(f"{where}.format", fmt, f"{name!r} is a built-in dataset of format {name!r} (cifar10 may also "
                  "be read from an image folder of its images); give your own data another name")
        path = section.get("path")
        if path is not None and not isinstance(path, str):
            _fail(f"{where}.path", path, "must be a path (string)")
        if fmt in ("npz", "image_folder"):
            if not path:
                _fail(f"{where}.path", path, f"a {fmt} dataset needs a path "
                      f"({'the .npz file' if fmt == 'npz' else 'the folder of class folders'})")
            if check_files:
                if fmt == "npz" and not os.path.isfile(path):
                    _fail(f"{where}.path", path, "the .npz file does not exist")
                if fmt == "image_folder" and not os.path.isdir(path):
                    _fail(f"{where}.path", path, "the image folder does not exist")
        elif fmt == "digits" and path:
            _fail(f"{where}.path", path, "digits ships with scikit-learn and takes no path")
        elif fmt in ("cifar10", "cifar100") and path and check_files and not os.path.isdir(path) \
                and not (section.get("options") or {}).get("download"):
            _fail(f"{where}.path", path, "the directory does not exist (set options.download: true "
                  "to fetch CIFAR into it)")
        options = section.get("options") or {}
        _check_keys(options, FORMAT_OPTIONS[fmt], f"{where}.options")
        for key in ("verify_md5", "download"):
            if key in options and not isinstance(options[key], bool):
                _fail(f"{where}.options.{key}", options[key], "must be true or false")
        if "test_fraction" in options and not (_is_number(options["test_fraction"])
                                                and 0 < options["test_fraction"] < 1):
            _fail(f"{where}.options.test_fraction", options["test_fraction"], "must be a number in (0, 1)")
        if "split_seed" in options and not (_is_int(options["split_seed"]) and options["split_seed"] >= 0):
            _fail(f"{where}.options.split_seed", options["split_seed"], "must be a non-negative integer")
        _check_training(section.get("training") or {}, f"{where}.training")
        labels = section.get("human_labels")
        if labels is not None and not isinstance(labels, str):
            _fail(f"{where}.human_labels", labels, "must be a path (string)")
        try:
            subset = check_subset(section.get("subset"), f"{where}.subset")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if subset is not None and subset["test"] is not None and fmt == "image_folder" and check_files \
                and path and os.path.isdir(path) and data.image_folder_layout(path) == "flat":
            _fail(f"{where}.subset.test", subset["test"], f"the image folder {path} has no test split "
                  "(root/train/<class>/… and root/test/<class>/…)")
        pairs = section.get("asymmetric_pairs")
        if pairs is not None:
            ok = isinstance(pairs, list) and pairs and all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p)
                and p[0] != p[1] for p in pairs)
            if not ok or len({p[0] for p in pairs}) != len(pairs):
                _fail(f"{where}.asymmetric_pairs", pairs, "give a list of [source, target] class pairs "
                      "(non-negative integers, source != target, each source once)")


def _check_scenarios(config: Mapping[str, Any]) -> None:
    scenarios = config["scenarios"]
    if not isinstance(scenarios, list) or not scenarios:
        _fail("scenarios", scenarios, "give a non-empty list of {dataset, arch, noise, rate} entries")
    noise_options = config.get("noise_options") or {}
    for i, entry in enumerate(scenarios):
        where = f"scenarios[{i}]"
        _check_keys(entry, SCENARIO_KEYS, where)
        for key in ("dataset", "arch", "noise"):
            if key not in entry:
                _fail(f"{where}.{key}", None, f"every scenario needs {key!r}")
            values = _as_list(entry[key])
            if not values:
                _fail(f"{where}.{key}", entry[key], "give at least one value")
        known = list(DATASETS) + [n for n in _datasets_section(config) if n not in DATASETS]
        for dataset in _as_list(entry["dataset"]):
            if not isinstance(dataset, str) or dataset_format(config, dataset) is None:
                _fail(f"{where}.dataset", dataset, f"choose one of {known} (configure your own data "
                      "under 'datasets' with a format and a path)")
        for arch in _as_list(entry["arch"]):
            if arch not in ARCHS:
                _fail(f"{where}.arch", arch, f"choose one of {list(ARCHS)}")
        allowed_noise = list(NOISE_TYPES) + [f"human:{n}" for n in HUMAN_NOISE_NAMES]
        noises = []
        for noise in _as_list(entry["noise"]):
            try:
                noises.append(canonical_noise(noise))
            except ValueError:
                _fail(f"{where}.noise", noise, f"choose one of {allowed_noise}")
        synthetic = [n for n in noises if not is_human_noise(n)]
        human = [n for n in noises if is_human_noise(n)]
        if "rate" in entry:
            if human:
                _fail(f"{where}.rate", entry["rate"], f"human noise ({', '.join(h.replace('-', ':', 1) for h in human)}) "
                      "takes no rate (its labels come from the label file); put it in a scenario "
                      "entry of its own without 'rate'")
            rates = _as_list(entry["rate"])
            if not rates:
                _fail(f"{where}.rate", entry["rate"], "give at least one noise rate in [0, 1)")
            for rate in rates:
                if not _is_number(rate) or not 0 <= rate < 1:
                    _fail(f"{where}.rate", rate, "a noise rate must be a number in [0, 1)")
        elif synthetic:
            _fail(f"{where}.rate", None, f"{synthetic[0]} noise needs a rate: a number in [0, 1)")
        mapping_kind = noise_options.get("asymmetric_mapping", "standard")
        for dataset in _as_list(entry["dataset"]):
            fmt = dataset_format(config, dataset)
            family = dataset if dataset in DATASETS else fmt   # cifar10 from its image folder: cifar10
            if ("asymmetric" in synthetic and mapping_kind == "standard"
                    and family not in ASYMMETRIC_MAPPINGS and family != "cifar100"
                    and asymmetric_pairs(config, dataset) is None):
                _fail(f"{where}.noise", "asymmetric", f"dataset {dataset!r} (format {fmt}) has no standard "
                      f"asymmetric mapping (there are mappings for {sorted(ASYMMETRIC_MAPPINGS) + ['cifar100']}); "
                      f"give datasets.{dataset}.asymmetric_pairs or set noise_options.asymmetric_mapping: random-pairs")
            if human and human_labels_path(config, dataset) is None:
                _fail(f"{where}.noise", human[0].replace("-", ":", 1),
                      f"human noise needs a label file: set noise_options.human_labels (or "
                      f"datasets.{dataset}.human_labels) to e.g. CIFAR-10N's CIFAR-10_human.pt")


def _check_human_labels(config: Mapping[str, Any]) -> None:
    from .noise import read_human_labels

    checked = set()
    for sc in expand_scenarios(config["scenarios"]):
        if not is_human_noise(sc["noise"]) or (sc["dataset"], sc["noise"]) in checked:
            continue
        checked.add((sc["dataset"], sc["noise"]))
        path = human_labels_path(config, sc["dataset"])
        key = human_labels_key(config, sc["dataset"])
        try:
            read_human_labels(path, sc["noise"], dataset_train_size(config, sc["dataset"]),
                              what=key, dataset=sc["dataset"])
        except (OSError, ValueError) as exc:
            raise ConfigError(str(exc)) from None


def _check_sizes(config: Mapping[str, Any]) -> None:
    """Batch size no larger than the training set, where the size is known at DAG time."""
    for dataset in dict.fromkeys(sc["dataset"] for sc in expand_scenarios(config["scenarios"])):
        size = dataset_train_size(config, dataset)
        if size is None:
            continue  # checked when the job loads the data (the Trainer raises)
        batch = resolved_settings(config, dataset).get("batch_size", TrainConfig.batch_size)
        if batch > size:
            _fail(_setting_source(config, dataset, "batch_size"), batch,
                  f"dataset {dataset!r} has {size} training samples; the batch size must be 1..{size}")


def check_config(config: Mapping[str, Any], check_files: bool = True) -> None:
    """Checks beyond the JSON schema. Raises :class:`ConfigError` naming key, value and what is
    allowed. ``check_files=False`` skips everything that looks at the file system."""
    _check_keys(config, TOP_KEYS, "")
    for key in REQUIRED_KEYS:
        if key not in config:
            raise ConfigError(f"config key {key!r} is missing; required keys: {list(REQUIRED_KEYS)}")
    experiment = config["experiment"]
    if not isinstance(experiment, str) or not EXPERIMENT_PATTERN.match(experiment):
        _fail("experiment", experiment, f"must match {EXPERIMENT_PATTERN.pattern} (it becomes a folder name)")
    device = config.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        _fail("device", device, "choose auto, cpu, cuda, cuda:N or mps")
    for key in ("threads", "checkpoint_every"):
        if key in config and not (_is_int(config[key]) and config[key] >= 1):
            _fail(key, config[key], "must be a positive integer")
    stall = config.get("stall_timeout", 0)
    if isinstance(stall, bool) or not isinstance(stall, (int, float)) or not stall >= 0:
        _fail("stall_timeout", stall, "must be a number of seconds >= 0 (0 turns the watchdog off)")
    _check_datasets(config, check_files)
    _check_scenarios(config)
    _check_names(config["methods"], "methods", METHODS, "methods")
    seeds = config["seeds"]
    if not isinstance(seeds, list) or not seeds:
        _fail("seeds", seeds, "give a non-empty list of non-negative integer seeds, e.g. [1, 2, 3]")
    for seed in seeds:
        if not _is_int(seed) or seed < 0:
            _fail("seeds", seed, "seeds must be non-negative integers")
    if len(set(seeds)) != len(seeds):
        _fail("seeds", seeds, "list each seed once")
    _check_names(config["signals"], "signals", sorted(SIGNALS), "signals")
    noise_options = config.get("noise_options") or {}
    _check_keys(noise_options, NOISE_OPTION_KEYS, "noise_options")
    if noise_options.get("asymmetric_mapping", "standard") not in ASYMMETRIC_MAPPING_KINDS:
        _fail("noise_options.asymmetric_mapping", noise_options["asymmetric_mapping"],
              f"choose one of {list(ASYMMETRIC_MAPPING_KINDS)}")
    if not isinstance(noise_options.get("symmetric_include_true", True), bool):
        _fail("noise_options.symmetric_include_true", noise_options["symmetric_include_true"], "must be true or false")
    crossval = config.get("crossval") or {}
    _check_keys(crossval, CROSSVAL_KEYS, "crossval")
    if "folds" in crossval and not (_is_int(crossval["folds"]) and crossval["folds"] >= 2):
        _fail("crossval.folds", crossval["folds"], "must be an integer >= 2")
    if "detectors" in crossval:
        detectors = crossval["detectors"]
        if not isinstance(detectors, list) or any(d not in CROSSVAL_DETECTORS for d in detectors) \
                or len(set(detectors)) != len(detectors):
            _fail("crossval.detectors", detectors, f"give a list (possibly empty) of distinct names from "
                  f"{list(CROSSVAL_DETECTORS)}")
    suspects = config.get("suspects") or {}
    _check_keys(suspects, SUSPECTS_KEYS, "suspects")
    if "top_n" in suspects and not (_is_int(suspects["top_n"]) and suspects["top_n"] >= 1):
        _fail("suspects.top_n", suspects["top_n"], "must be a positive integer (how many of a run's most "
              "suspicious training images its gallery shows)")
    _check_downstream(config)
    bmm = config.get("bmm") or {}
    _check_keys(bmm, BMM_KEYS, "bmm")
    if "n_iter" in bmm and not (_is_int(bmm["n_iter"]) and bmm["n_iter"] >= 1):
        _fail("bmm.n_iter", bmm["n_iter"], "must be a positive integer")
    lo, hi = bmm.get("lower_percentile", 5), bmm.get("upper_percentile", 95)
    for key, value in (("bmm.lower_percentile", lo), ("bmm.upper_percentile", hi)):
        if not _is_number(value) or not 0 <= value <= 100:
            _fail(key, value, "must be a number in [0, 100]")
    if lo >= hi:
        _fail("bmm.lower_percentile", lo, f"must be below bmm.upper_percentile ({hi})")
    _check_training(config.get("training") or {}, "training")

    if check_files:
        data_dir = config.get("data_dir", "data")
        users = [d for d in dict.fromkeys(d for sc in config["scenarios"] for d in _as_list(sc["dataset"]))
                 if dataset_uses_data_dir(config, d)]
        need_dir = [d for d in users if not dataset_spec(config, d).get("download", False)]
        if need_dir and (not data_dir or not os.path.isdir(str(data_dir))):
            _fail("data_dir", data_dir, f"the directory does not exist but {', '.join(need_dir)} "
                  "must be read from it (create it and put the CIFAR files there, or set "
                  f"datasets.{need_dir[0]}.options.download: true to fetch them with torchvision)")
        _check_human_labels(config)
    _check_sizes(config)


_TRAINING_CHECKS = {
    "lr": (lambda v: _is_number(v) and v > 0, "must be a number > 0"),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "must be a number >= 0"),
    "pi_lr": (lambda v: v == "auto" or (_is_number(v) and v >= 0),
              "must be a number >= 0 or auto (pi_lr x training steps = the authors' 0.78, alsofilter.settings)"),
    "pi_decay": (lambda v: _is_number(v) and v >= 0, "must be a number >= 0"),
    "eps": (lambda v: _is_number(v) and v >= 0, "must be a number >= 0"),
    "temperature": (lambda v: _is_number(v) and v > 0, "must be a number > 0"),
    "crop_padding": (lambda v: _is_int(v) and v >= 0, "must be an integer >= 0"),
    "flip": (lambda v: isinstance(v, bool), "must be true or false"),
    "deterministic": (lambda v: isinstance(v, bool), "must be true or false"),
    "also_mode": (lambda v: v in ALSO_MODES, f"choose one of {list(ALSO_MODES)}"),
    "loss_source": (lambda v: v in LOSS_SOURCES, f"choose one of {list(LOSS_SOURCES)}"),
    "precision": (lambda v: v in PRECISIONS, f"choose one of {list(PRECISIONS)}"),
    "channels_last": (lambda v: isinstance(v, bool), "must be true or false"),
}


def _check_training(section: Mapping[str, Any], where: str) -> None:
    known = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in TRAINING_RUN_KEYS]
    _check_keys(section, known, where)
    for key, value in section.items():
        if key in INT_SETTINGS and not (_is_int(value) and value >= 1):
            _fail(f"{where}.{key}", value, "must be a positive integer")
        check = _TRAINING_CHECKS.get(key)
        if check is not None and not check[0](value):
            _fail(f"{where}.{key}", value, check[1])


def resolved_settings(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """Training settings of ``dataset`` before the per-run keys (method, arch, seed, device)."""
    settings = dict(DATASET_DEFAULTS.get(dataset_format(config, dataset) or "", {}))
    settings.update(config.get("training") or {})
    settings.update((_datasets_section(config).get(dataset) or {}).get("training") or {})
    return settings


def _setting_source(config: Mapping[str, Any], dataset: str, key: str) -> str:
    if key in ((_datasets_section(config).get(dataset) or {}).get("training") or {}):
        return f"datasets.{dataset}.training.{key}"
    if key in (config.get("training") or {}):
        return f"training.{key}"
    return f"training.{key} (default for {dataset_format(config, dataset)})"


def training_settings(config: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """Resolved :class:`~alsofilter.settings.TrainConfig` arguments for ``run``."""
    settings = resolved_settings(config, run.dataset)
    settings.update(method=run.method, arch=run.arch, seed=run.seed, device=config.get("device", "auto"))
    return settings


def crossval_settings(config: Mapping[str, Any]) -> tuple[int, list[str]]:
    """``(folds, detectors)`` of the config's ``crossval`` section, with the defaults."""
    crossval = config.get("crossval") or {}
    return int(crossval.get("folds", 5)), list(crossval.get("detectors", CROSSVAL_DETECTORS))


def _check_downstream(config: Mapping[str, Any]) -> None:
    section = config.get("downstream") or {}
    _check_keys(section, DOWNSTREAM_KEYS, "downstream")
    from .cleaned_labels import MODES

    modes = section.get("modes", list(MODES))
    if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        _fail("downstream.modes", modes, f"give a non-empty list of distinct modes from {list(MODES)}")
    detectors = section.get("detectors", [])
    if detectors == "all":
        return
    if not isinstance(detectors, list) or len(set(map(str, detectors))) != len(detectors):
        _fail("downstream.detectors", detectors, "give 'all' or a list (possibly empty) of distinct detector names")
    allowed = leaderboard_detectors(config)
    for name in detectors:
        if name not in allowed:
            _fail("downstream.detectors", name, f"not a detector of this experiment; its detectors: {allowed}")


def leaderboard_detectors(config: Mapping[str, Any]) -> list[str]:
    """Every detector this experiment's leaderboard has, by its downstream name
    (:mod:`alsofilter.cleaned_labels`): each method's signals that the method records (π only for
    ALSO) with the BMM and the GMM decision, then the cross-validated detectors."""
    names = []
    for method in _as_list(config.get("methods", [])):
        for signal in _as_list(config.get("signals", [])):
            needs = SIGNALS[signal].requires if signal in SIGNALS else ()
            if "weight" in needs and not str(method).startswith("also"):   # π: ALSO runs only
                continue
            names += [f"{method}.{signal}.{decision}" for decision in ("bmm", "gmm")]
    return names + crossval_settings(config)[1]


def downstream_settings(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(detectors, modes)`` of the ``downstream`` section: the detectors (``all`` expanded,
    without the references) and the modes; no detectors = the stage is off."""
    section = config.get("downstream") or {}
    detectors = section.get("detectors", [])
    if detectors == "all":
        detectors = leaderboard_detectors(config)
    return list(detectors), list(section.get("modes", ["drop", "relabel"]))


def suspects_top_n(config: Mapping[str, Any]) -> int:
    """``suspects.top_n`` of the config (default :data:`DEFAULT_SUSPECTS_TOP_N`)."""
    return int((config.get("suspects") or {}).get("top_n", DEFAULT_SUSPECTS_TOP_N))


def scenario_keys(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """The distinct (dataset, arch, noise, rate, seed) of ``runs``, in grid order."""
    seen, out = set(), []
    for r in runs:
        key = (r.dataset, r.arch, r.noise, r.rate, r.seed)
        if key not in seen:
            seen.add(key)
            out.append(dict(zip(("dataset", "arch", "noise", "rate", "seed"), key)))
    return out
