"""Rule fit_mixture: a Beta mixture per epoch for every signal of one run."""
from alsofilter.pipeline import fit_mixture_file, setup_logging

setup_logging(snakemake.log[0])
bmm = snakemake.params.bmm
fit_mixture_file(snakemake.input.signals, snakemake.output.mixture, snakemake.params.signals,
                 n_iter=bmm.get("n_iter", 10), lower=bmm.get("lower_percentile", 5.0),
                 upper=bmm.get("upper_percentile", 95.0))
