"""Rule rank_samples: the training samples of one run, most suspicious first, and its cleaned labels."""
from alsofilter.pipeline import rank_samples_file, setup_logging

setup_logging(snakemake.log[0])
rank_samples_file(snakemake.input.signals, snakemake.input.mixture, snakemake.output.ranked,
                  method=snakemake.wildcards.method, dataset=snakemake.wildcards.dataset,
                  data_dir=snakemake.params.data_dir, dataset_options=snakemake.params.dataset_options,
                  bmm=snakemake.params.bmm, out_cleaned=snakemake.output.cleaned,
                  cleaned_mode=snakemake.params.cleaned_mode)
