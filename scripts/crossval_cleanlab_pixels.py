"""Rule crossval_cleanlab_pixels: pixel logistic regression over K folds, then cleanlab."""
from alsofilter.stages.crossval import rule_crossval_cleanlab_pixels

rule_crossval_cleanlab_pixels(snakemake)  # noqa: F821 (Snakemake defines it)
