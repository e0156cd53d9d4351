"""Rule paper_comparison: our ROC-AUC next to the paper's reported values (CSV and Markdown)."""
from alsofilter.pipeline import paper_comparison_files, setup_logging

setup_logging(snakemake.log[0])
paper_comparison_files(snakemake.input.summary, snakemake.output.csv, snakemake.output.md)
