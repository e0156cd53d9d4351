"""Rule retrain: the AdamW baseline's recipe trained from scratch on one cleaned training set."""
from alsofilter.pipeline import setup_logging
from alsofilter.retrain import retrain_job

setup_logging(snakemake.log[0])
retrain_job(snakemake.input.noise, snakemake.input.cleaned, snakemake.params.settings,
            snakemake.output.signals, snakemake.output.history, snakemake.output.provenance,
            dataset=snakemake.wildcards.dataset, checkpoint=snakemake.params.checkpoint,
            checkpoint_every=snakemake.params.checkpoint_every, data_dir=snakemake.params.data_dir,
            threads=snakemake.threads, dataset_options=snakemake.params.dataset_options,
            name=snakemake.params.name, stall_timeout=snakemake.params.stall_timeout,
            log_path=snakemake.log[0])
