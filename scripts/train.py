"""Rule train: one training run; an epoch bar on stderr, a line per epoch in the log."""
from alsofilter.pipeline import setup_logging, train_run_files

setup_logging(snakemake.log[0])
train_run_files(snakemake.input.noise, snakemake.params.settings, snakemake.output.signals,
                snakemake.output.history, snakemake.output.provenance,
                dataset=snakemake.wildcards.dataset, data_dir=snakemake.params.data_dir,
                threads=snakemake.threads, dataset_options=snakemake.params.dataset_options)
