"""Rule crossval_cleanlab_pixels: pixel logistic regression over K folds, then cleanlab."""
from alsofilter.crossval import cleanlab_pixels_files
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
cleanlab_pixels_files(snakemake.input.noise, snakemake.wildcards.dataset, snakemake.params.data_dir,
                      snakemake.params.dataset_options, snakemake.params.folds, int(snakemake.wildcards.seed),
                      snakemake.output.detection, snakemake.output.metrics)
