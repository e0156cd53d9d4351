"""Rule cleaned_labels: every listed detector's cleaned_labels.csv of one (scenario, seed), per mode."""
from alsofilter.cleaned_labels import cleaned_labels_stage
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
cleaned_labels_stage(snakemake.input.noise, snakemake.params.variants, snakemake.output.cleaned,
                     snakemake.params.methods, snakemake.input.signals, snakemake.input.mixtures,
                     snakemake.params.crossval, dataset=snakemake.wildcards.dataset,
                     data_dir=snakemake.params.data_dir, dataset_options=snakemake.params.dataset_options)
