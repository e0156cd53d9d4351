"""Rule summary_tables: summary.csv and the seed-aggregated tables."""
from alsofilter.stages.report import rule_summary_tables

rule_summary_tables(snakemake)  # noqa: F821 (Snakemake defines it)
