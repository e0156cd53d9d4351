"""Rule metrics: per-epoch detection metrics of one run."""
from alsofilter.pipeline import metrics_file, setup_logging

setup_logging(snakemake.log[0])
metrics_file(snakemake.input.signals, snakemake.input.mixture, snakemake.output.metrics)
