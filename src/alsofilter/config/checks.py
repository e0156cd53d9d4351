"""The checks a schema cannot express.

:func:`check_config` first validates the config against the schema (:mod:`alsofilter.config.schema`:
keys, types, ranges, allowed values; defaults filled in), then checks what needs Python: known
names (signals, datasets, noise kinds), cross-field rules, files on disk, dataset sizes. Every
error is a :class:`ConfigError` whose message names the key, the bad value and what is allowed.

Datasets and their keys: :mod:`alsofilter.config.datasets`.

When files are checked
----------------------
At DAG time (every ``snakemake`` call, dry runs included): the ``data_dir`` folder must exist
when a scenario reads CIFAR from it, unless that dataset has ``options.download: true`` (then the
job creates it and fetches the files); a user dataset's ``path`` must exist; a human-label file
must exist, hold the named column and, where the training-set size is known without loading the
images, have that many labels. The CIFAR files themselves are checked when a job loads them (a
clear error naming the missing file), so a dry run plans without the data.

Training settings of a run are resolved in this order (later wins):
:class:`~alsofilter.config.settings.TrainConfig` defaults → :data:`DATASET_DEFAULTS` for its dataset's
format → the config's ``training`` section → the config's ``datasets.<name>.training`` section.
"""
from __future__ import annotations

import difflib
import os
from typing import Any, Mapping

from alsofilter.config.datasets import (FORMAT_OPTIONS, _datasets_section, _setting_source, asymmetric_pairs,
                                        dataset_format, dataset_spec, dataset_train_size, dataset_uses_data_dir,
                                        human_labels_key, human_labels_path, resolved_settings, variant_settings)
from alsofilter.config.grid import _as_list, expand_scenarios
from alsofilter.config.schema import ConfigError, fail as _fail, validate
from alsofilter.config.settings import ARCHS, METHODS, TrainConfig, base_method, compile_conflict
from alsofilter.config.sections import crossval_settings, ladder_sizes, leaderboard_detectors, pixel_classifier_setting
from alsofilter.data import DATASETS, FORMATS, image_folder_layout
from alsofilter.data.noise import (ASYMMETRIC_MAPPINGS, HUMAN_NOISE_NAMES, NOISE_TYPES, canonical_noise,
                                   is_human_noise, read_human_labels)
from alsofilter.data.subset import check_subset
from alsofilter.detectors.confident_learning import check_pixel_classifier
from alsofilter.names import SIGNAL_INPUTS


def _check_datasets(config: Mapping[str, Any], check_files: bool) -> None:
    """Per dataset: a known format for its name, the format's path and loader options, files on
    disk, the subset against the image folder's layout, asymmetric pairs that map."""
    for name, section in (config.get("datasets") or {}).items():
        where = f"datasets.{name}"
        section = section or {}
        fmt = section.get("format", name if name in DATASETS else None)
        if fmt is None:
            _fail(f"{where}.format", None, f"dataset {name!r} is not built in ({list(DATASETS)}); "
                  f"set its format to one of {list(FORMATS)}")
        if name in DATASETS and fmt != name and not (name == "cifar10" and fmt == "image_folder"):
            _fail(f"{where}.format", fmt, f"{name!r} is a built-in dataset of format {name!r} (cifar10 may also "
                  "be read from an image folder of its images); give your own data another name")
        path = section.get("path")
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
        for key in section.get("options") or {}:
            if key not in FORMAT_OPTIONS[fmt]:
                raise ConfigError(f"config key '{where}.options.{key}' is unknown for format {fmt}; allowed keys "
                                  f"in '{where}.options': {list(FORMAT_OPTIONS[fmt])}")
        try:
            subset = check_subset(section.get("subset"), f"{where}.subset")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if subset is not None and subset["test"] is not None and fmt == "image_folder" and check_files \
                and path and os.path.isdir(path) and image_folder_layout(path) == "flat":
            _fail(f"{where}.subset.test", subset["test"], f"the image folder {path} has no test split "
                  "(root/train/<class>/… and root/test/<class>/…)")
        pairs = section.get("asymmetric_pairs")
        if pairs is not None and (any(a == b for a, b in pairs) or len({a for a, _ in pairs}) != len(pairs)):
            _fail(f"{where}.asymmetric_pairs", pairs, "give a list of [source, target] class pairs "
                  "(non-negative integers, source != target, each source once)")


def _check_methods(config: Mapping[str, Any]) -> None:
    """Each entry of ``methods`` is a method or one of the config's variants; each variant names its
    method rightly and holds only training settings (checked against the schema's ``training``)."""
    variants = config.get("variants") or {}
    for name, body in variants.items():
        body = body or {}
        method = base_method(name)
        if "method" in body and body["method"] != method:
            _fail(f"variants.{name}.method", body["method"], f"a variant called {name!r} is a variant of "
                  f"{method!r} (its name starts with its method's)")
        validate({k: v for k, v in body.items() if k != "method"}, "$defs.training", where=f"variants.{name}")
    known = [*METHODS, *variants]
    for i, name in enumerate(config["methods"]):
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            _fail(f"methods[{i}]", name, f"choose from {known}" + (f" (did you mean {close[0]!r}?)" if close else "")
                  + "; a variant of a method must be defined under 'variants'")


def _check_scenarios(config: Mapping[str, Any]) -> None:
    """Per scenario entry: known datasets and architectures, known noise kinds, a rate exactly
    where the noise needs one, a mapping for asymmetric noise, a label file for human noise."""
    noise_options = config["noise_options"]
    for i, entry in enumerate(config["scenarios"]):
        where = f"scenarios[{i}]"
        known = list(DATASETS) + [n for n in _datasets_section(config) if n not in DATASETS]
        for dataset in _as_list(entry["dataset"]):
            if dataset_format(config, dataset) is None:
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
        elif synthetic:
            _fail(f"{where}.rate", None, f"{synthetic[0]} noise needs a rate: a number in [0, 1)")
        mapping_kind = noise_options["asymmetric_mapping"]
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


def _check_compile(config: Mapping[str, Any]) -> None:
    """No run combines a CUDA-graph ``compile`` mode with ALSO's extragradient
    (:func:`~alsofilter.config.settings.compile_conflict`), checked at DAG time rather than when
    the job starts."""
    for dataset in dict.fromkeys(sc["dataset"] for sc in expand_scenarios(config["scenarios"])):
        for name in config["methods"]:
            variant = variant_settings(config, name)
            settings = {"also_mode": TrainConfig.also_mode, "compile": TrainConfig.compile,
                        **resolved_settings(config, dataset), **variant}
            conflict = compile_conflict(base_method(name), settings["also_mode"], settings["compile"])
            if conflict:
                key = f"variants.{name}.compile" if "compile" in variant else _setting_source(config, dataset, "compile")
                raise ConfigError(f"config key {key!r}: {settings['compile']!r} is not allowed for {name}: {conflict}")


def _check_sizes(config: Mapping[str, Any]) -> None:
    """Batch size no larger than the training set, and no SVC pixel classifier that would take
    hours, where the size is known at DAG time."""
    folds, detectors = crossval_settings(config)
    classifier = pixel_classifier_setting(config)
    for dataset in dict.fromkeys(sc["dataset"] for sc in expand_scenarios(config["scenarios"])):
        size = dataset_train_size(config, dataset)
        if size is None:
            continue  # checked when the job loads the data (the Trainer raises)
        if "cleanlab_pixels" in detectors:
            try:
                check_pixel_classifier(classifier, size, folds)
            except ValueError as exc:
                raise ConfigError(f"{exc} (dataset {dataset!r}: {size} training images)") from None
        batch = resolved_settings(config, dataset)["batch_size"]
        if batch > size:
            _fail(_setting_source(config, dataset, "batch_size"), batch,
                  f"dataset {dataset!r} has {size} training samples; the batch size must be 1..{size}")


def check_config(config: Mapping[str, Any], check_files: bool = True) -> None:
    """The schema (:func:`alsofilter.config.schema.validate`), then the checks beyond it. Raises
    :class:`ConfigError` naming key, value and what is allowed. ``check_files=False`` skips
    everything that looks at the file system. ``config`` itself is not changed."""
    config = validate(config)
    _check_datasets(config, check_files)
    _check_methods(config)
    _check_scenarios(config)
    for i, signal in enumerate(config["signals"]):
        if signal not in SIGNAL_INPUTS:
            _fail(f"signals[{i}]", signal, f"choose from {sorted(SIGNAL_INPUTS)}")
    bmm = config["bmm"]
    if bmm["lower_percentile"] >= bmm["upper_percentile"]:
        _fail("bmm.lower_percentile", bmm["lower_percentile"],
              f"must be below bmm.upper_percentile ({bmm['upper_percentile']})")
    _check_downstream(config)
    ladder_sizes(config)
    _check_compile(config)
    if check_files:
        data_dir = config["data_dir"]
        users = [d for d in dict.fromkeys(d for sc in config["scenarios"] for d in _as_list(sc["dataset"]))
                 if dataset_uses_data_dir(config, d)]
        need_dir = [d for d in users if not dataset_spec(config, d).get("download", False)]
        if need_dir and (not data_dir or not os.path.isdir(str(data_dir))):
            _fail("data_dir", data_dir, f"the directory does not exist but {', '.join(need_dir)} "
                  "must be read from it (create it and put the CIFAR files there, or set "
                  f"datasets.{need_dir[0]}.options.download: true to fetch them with torchvision)")
        _check_human_labels(config)
    _check_sizes(config)


def _check_downstream(config: Mapping[str, Any]) -> None:
    detectors = config["downstream"]["detectors"]
    if detectors == "all":
        return
    allowed = leaderboard_detectors(config)
    for name in detectors:
        if name not in allowed:
            _fail("downstream.detectors", name, f"not a detector of this experiment; its detectors: {allowed}")
