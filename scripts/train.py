"""Rule train: one training run; an epoch bar on stderr, a line per epoch in the log."""
from alsofilter.pipeline import setup_logging
from alsofilter.train_job import run_training_job

setup_logging(snakemake.log[0])
run_training_job(snakemake.input.noise, snakemake.params.settings, snakemake.output.signals,
                 snakemake.output.history, snakemake.output.provenance,
                 dataset=snakemake.wildcards.dataset, checkpoint=snakemake.params.checkpoint,
                 checkpoint_every=snakemake.params.checkpoint_every, data_dir=snakemake.params.data_dir,
                 threads=snakemake.threads, dataset_options=snakemake.params.dataset_options,
                 name=snakemake.params.name, stall_timeout=snakemake.params.stall_timeout,
                 log_path=snakemake.log[0])
