"""Stage ``train`` (rule ``train``): one training run of the grid (:mod:`alsofilter.training.job`)."""
from __future__ import annotations

from typing import Any

from alsofilter.logs import setup_logging
from alsofilter.training.job import run_training_job


def training_job_options(smk) -> dict[str, Any]:
    """The options of :func:`~alsofilter.training.job.run_training_job` that every rule that trains
    a network (``train``, ``crossval_fold``, ``retrain``) passes the same way."""
    return {"checkpoint": smk.params.checkpoint, "checkpoint_every": smk.params.checkpoint_every,
            "data_dir": smk.params.data_dir, "threads": smk.threads,
            "dataset_options": smk.params.dataset_options, "name": smk.params.name,
            "stall_timeout": smk.params.stall_timeout, "log_path": smk.log[0]}


def rule_train(smk) -> None:
    """Rule ``train``."""
    setup_logging(smk.log[0])
    run_training_job(smk.input.noise, smk.params.settings, smk.output.signals, smk.output.history,
                     smk.output.provenance, dataset=smk.wildcards.dataset, **training_job_options(smk))
