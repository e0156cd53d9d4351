"""Rule rank_samples: the training samples of one run, most suspicious first, and its cleaned labels."""
from alsofilter.stages.metrics import rule_rank_samples

rule_rank_samples(snakemake)  # noqa: F821 (Snakemake defines it)
