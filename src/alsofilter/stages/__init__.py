"""The pipeline's stages: one module per rule file of ``workflow/rules/``, holding the file-in /
file-out adapters and one ``rule_<name>(snakemake)`` entry per rule that the thin scripts call.

What the stages share is here: how the three rules that train a network pass their options.
"""
from __future__ import annotations

from typing import Any


def training_job_options(smk) -> dict[str, Any]:
    """The options of :func:`~alsofilter.training.job.run_training_job` that every rule that trains
    a network (``train``, ``crossval_fold``, ``retrain``) passes the same way."""
    return {"checkpoint": smk.params.checkpoint, "checkpoint_every": smk.params.checkpoint_every,
            "data_dir": smk.params.data_dir, "threads": smk.threads,
            "dataset_options": smk.params.dataset_options, "name": smk.params.name,
            "stall_timeout": smk.params.stall_timeout, "log_path": smk.log[0]}
