"""Rule metrics: per-epoch detection metrics of one run."""
from alsofilter.stages.metrics import rule_metrics

rule_metrics(snakemake)  # noqa: F821 (Snakemake defines it)
