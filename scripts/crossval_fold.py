"""Rule crossval_fold: one fold of the cross-validated network (alsofilter.detectors.confident_learning.run_fold_job)."""
from alsofilter.stages.crossval_folds import rule_crossval_fold

rule_crossval_fold(snakemake)  # noqa: F821 (Snakemake defines it)
