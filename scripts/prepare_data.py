"""Snakemake script: prepare one dataset (logic in alsofilter.prepare_data)."""
from alsofilter.pipeline import setup_logging
from alsofilter.prepare_data import prepare_dataset

setup_logging(snakemake.log[0])
prepare_dataset(snakemake.wildcards.dataset, snakemake.params.out_dir, snakemake.params.data_dir,
                snakemake.params.dataset_options, snakemake.params.subset, threads=snakemake.threads)
