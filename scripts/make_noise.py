"""Rule make_noise: noisy labels for one (dataset, noise, rate, seed)."""
from alsofilter.stages.noise import rule_make_noise

rule_make_noise(snakemake)  # noqa: F821 (Snakemake defines it)
