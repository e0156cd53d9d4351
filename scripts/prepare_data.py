"""Snakemake script: prepare one dataset (logic in alsofilter.stages.prepare_data)."""
from alsofilter.stages.prepare_data import rule_prepare_data

rule_prepare_data(snakemake)  # noqa: F821 (Snakemake defines it)
