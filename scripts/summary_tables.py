"""Rule summary_tables: summary.csv and the seed-aggregated tables."""
from pathlib import Path

from alsofilter.pipeline import setup_logging, summary_tables

setup_logging(snakemake.log[0])
summary_tables(snakemake.params.runs, snakemake.input.metrics, snakemake.input.history,
               Path(snakemake.output.summary).parent)
