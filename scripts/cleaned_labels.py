"""Rule cleaned_labels: every listed detector's cleaned_labels.csv of one (scenario, seed), per mode."""
from alsofilter.stages.downstream import rule_cleaned_labels

rule_cleaned_labels(snakemake)  # noqa: F821 (Snakemake defines it)
