"""Rule train: one training run; an epoch bar on stderr, a line per epoch in the log."""
from alsofilter.stages.train import rule_train

rule_train(snakemake)  # noqa: F821 (Snakemake defines it)
