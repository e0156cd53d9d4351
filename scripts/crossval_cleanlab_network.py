"""Rule crossval_cleanlab_network: cleanlab on the folds' out-of-sample probabilities."""
from alsofilter.stages.crossval import rule_crossval_cleanlab_network

rule_crossval_cleanlab_network(snakemake)  # noqa: F821 (Snakemake defines it)
