"""Stage ``train`` (rule ``train``): one training run of the grid (:mod:`alsofilter.training.job`)."""
from __future__ import annotations

from alsofilter.logs import setup_logging
from alsofilter.stages import training_job_options
from alsofilter.training.job import run_training_job


def rule_train(smk) -> None:
    """Rule ``train``."""
    setup_logging(smk.log[0])
    # the run's name in the grid: a method, or a config variant of one (its settings are in "settings")
    run_training_job(smk.input.noise, smk.params.settings, smk.output.signals, smk.output.history,
                     smk.output.provenance, dataset=smk.wildcards.dataset,
                     extra_provenance={"method": smk.wildcards.method}, **training_job_options(smk))
