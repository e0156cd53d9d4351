"""Rule downstream: clean test accuracy after each detector's cleaning, in one table and figure."""
from alsofilter.downstream import downstream_files
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
downstream_files(snakemake.params.variants, snakemake.output.csv, snakemake.output.md,
                 snakemake.output.png, snakemake.output.pdf)
