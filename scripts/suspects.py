"""Rule suspects: the gallery (figure and HTML page) of one run's most suspicious training images."""
from alsofilter.pipeline import setup_logging
from alsofilter.suspects import suspects_files

setup_logging(snakemake.log[0])
suspects_files(snakemake.input.ranked, [snakemake.output.png, snakemake.output.pdf], snakemake.output.html,
               dataset=snakemake.wildcards.dataset, dataset_options=snakemake.params.dataset_options,
               top_n=snakemake.params.top_n, run=dict(snakemake.wildcards))
