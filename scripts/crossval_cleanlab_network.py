"""Rule crossval_cleanlab_network: cleanlab on the folds' out-of-sample probabilities."""
from alsofilter.crossval import cleanlab_network_files
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
cleanlab_network_files(snakemake.input.noise, snakemake.input.folds, snakemake.output.detection,
                       snakemake.output.metrics)
