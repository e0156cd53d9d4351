"""Rule paper_comparison: our ROC-AUC next to the paper's reported values (CSV and Markdown)."""
from alsofilter.stages.report import rule_paper_comparison

rule_paper_comparison(snakemake)  # noqa: F821 (Snakemake defines it)
