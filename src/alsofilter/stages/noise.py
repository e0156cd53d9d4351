"""Stage ``noise`` (rule ``make_noise``): the noisy labels of one (dataset, noise, rate, seed)."""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from alsofilter.data import prepared_metadata
from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.noise import human_noise_table, is_human_noise, make_noisy_labels, write_noise_table
from alsofilter.io import write_json_atomic
from alsofilter.logs import setup_logging


def make_noise_file(dataset: str, noise: str, rate: float, seed: int, out_csv, out_json,
                    data_dir: str | None = None, noise_options: Mapping[str, Any] | None = None,
                    dataset_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Noisy labels of one (dataset, noise, rate, seed): CSV ``index, true_label, noisy_label,
    is_noisy`` and a JSON sidecar with the settings and the realised noise rate."""
    noise_options = dict(noise_options or {})
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    fmt = (dataset_options or {}).get("format") or dataset
    prepared = {}
    if fmt == "prepared":   # the cache of the prepare_data stage: its source's format and subset
        meta = prepared_metadata(dataset_options["path"])
        fmt = meta["format"]
        prepared = {"subset": meta.get("subset"), "source_sizes": meta.get("source_sizes"),
                    "source": meta.get("source")}
    if is_human_noise(noise) and data.source_index is not None:
        raise ValueError(f"dataset {dataset!r} is a subset (datasets.{dataset}.subset) and {noise} noise reads "
                         "labels for the full training set; human noise on a subset is not supported")
    if is_human_noise(noise):
        labels = noise_options.get("human_labels")
        key = noise_options.get("human_labels_key", "noise_options.human_labels")
        if not labels:
            raise ValueError(f"{noise} noise needs a label file: set config key {key}")
        table = human_noise_table(data.y_train, data.num_classes, noise, labels, dataset, what=key)
        rate = None
    else:
        pairs = noise_options.get("asymmetric_pairs")
        table = make_noisy_labels(data.y_train, data.num_classes, noise, rate, seed,
                                  fmt if fmt in ("digits", "cifar10", "cifar100") else dataset,
                                  include_true=noise_options.get("symmetric_include_true", True),
                                  asymmetric_mapping=noise_options.get("asymmetric_mapping", "standard"),
                                  fine_to_coarse=data.fine_to_coarse,
                                  custom_mapping=None if pairs is None else {int(a): int(b) for a, b in pairs},
                                  images=data.x_train if noise == "instance" else None)
    write_noise_table(table, out_csv)
    info = {"dataset": dataset, "format": fmt, "noise": noise, "rate": rate, "seed": seed,
            "num_samples": int(len(table)), "num_classes": int(data.num_classes),
            "realised_noise_rate": float(table["is_noisy"].mean()), "options": noise_options,
            "mapping": {str(k): int(v) for k, v in (table.attrs.get("mapping") or {}).items()},
            **prepared}
    write_json_atomic(out_json, info)
    return table


def rule_make_noise(smk) -> None:
    """Rule ``make_noise`` (``smk``: the ``snakemake`` object of its script)."""
    setup_logging(smk.log[0])
    wc = smk.wildcards
    make_noise_file(wc.dataset, wc.noise, float(wc.rate), int(wc.seed), smk.output.csv, smk.output.json,
                    data_dir=smk.params.data_dir, noise_options=smk.params.noise_options,
                    dataset_options=smk.params.dataset_options)
