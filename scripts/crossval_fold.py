"""Rule crossval_fold: one fold of the cross-validated network (alsofilter.crossval.run_fold_job)."""
from alsofilter.crossval import run_fold_job
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
run_fold_job(snakemake.input.noise, snakemake.params.settings, int(snakemake.wildcards.fold),
             snakemake.params.folds, snakemake.output.predictions, snakemake.output.signals,
             snakemake.output.history, snakemake.output.provenance, dataset=snakemake.wildcards.dataset,
             checkpoint=snakemake.params.checkpoint, checkpoint_every=snakemake.params.checkpoint_every,
             data_dir=snakemake.params.data_dir, threads=snakemake.threads,
             dataset_options=snakemake.params.dataset_options, name=snakemake.params.name,
             stall_timeout=snakemake.params.stall_timeout, log_path=snakemake.log[0])
