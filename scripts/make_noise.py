"""Rule make_noise: noisy labels for one (dataset, noise, rate, seed)."""
from alsofilter.pipeline import make_noise_file, setup_logging

setup_logging(snakemake.log[0])
wc = snakemake.wildcards
make_noise_file(wc.dataset, wc.noise, float(wc.rate), int(wc.seed),
                snakemake.output.csv, snakemake.output.json,
                data_dir=snakemake.params.data_dir, noise_options=snakemake.params.noise_options,
                dataset_options=snakemake.params.dataset_options)
