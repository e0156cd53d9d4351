"""Rule downstream: clean test accuracy after each detector's cleaning, in one table and figure."""
from alsofilter.stages.downstream import rule_downstream

rule_downstream(snakemake)  # noqa: F821 (Snakemake defines it)
