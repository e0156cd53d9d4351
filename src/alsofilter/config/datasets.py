"""Datasets of a config: what a job needs to load each, its noise settings and its training settings.

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

Training settings of a run are resolved in this order (later wins): the schema's ``x-default``
(:class:`~alsofilter.config.settings.TrainConfig`) → :data:`DATASET_DEFAULTS` for its dataset's
format → the config's ``training`` section → the config's ``datasets.<name>.training`` section.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from alsofilter import data
from alsofilter.config.grid import Run
from alsofilter.config.schema import ConfigError
from alsofilter.config.settings import TrainConfig, base_method
from alsofilter.data import DATASETS

# Per-dataset defaults. CIFAR: the authors' settings (SPEC §2, §6). digits (the demo, 1437
# training images of 8x8): a ResNet-18 at width 8 without augmentation (an 8x8 digit shifted
# by a pixel is a different-looking digit, and without it AdamW memorises within ~10 epochs,
# showing the effect the paper is about); pi_lr raised from 1e-5 to 3e-3 because the π step
# scales with N/|B| (22 here vs 781 on CIFAR) and the demo trains 30 instead of 100 epochs.
# One's own data (npz, image_folder) starts from the schema's defaults (CIFAR settings).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"width": 8, "epochs": 30, "batch_size": 64, "crop_padding": 0, "flip": False,
               "pi_lr": 3e-3},
    "cifar10": {"width": 64, "epochs": 100, "batch_size": 64, "crop_padding": 4, "flip": True,
                "pi_lr": 1e-5},
    "cifar100": {"width": 64, "epochs": 100, "batch_size": 64, "crop_padding": 4, "flip": True,
                 "pi_lr": 1e-5},
}


#: loader options per dataset format
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "digits": ("test_fraction", "split_seed"),
    "cifar10": ("verify_md5", "download"),
    "cifar100": ("verify_md5", "download"),
    "npz": (),
    "image_folder": ("skip_unreadable",),
}


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
    (the ``dataset_options`` the rules pass to :func:`alsofilter.data.loading.load_pipeline_dataset`)."""
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


def variant_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The training settings the config's variant ``name`` overrides (``{}`` for a plain method),
    without its ``method``."""
    if name not in ((config.get("variants") or {})):
        return {}
    return {k: v for k, v in ((config["variants"][name] or {}).items()) if k != "method"}


def training_settings(config: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """Resolved :class:`~alsofilter.config.settings.TrainConfig` arguments for ``run``; a variant's
    run (``run.method`` names one of the config's ``variants``) trains with its method and its
    settings on top of the others."""
    settings = resolved_settings(config, run.dataset)
    settings.update(variant_settings(config, run.method))
    settings.update(method=base_method(run.method), arch=run.arch, seed=run.seed,
                    device=config.get("device", TrainConfig.device))
    return settings
