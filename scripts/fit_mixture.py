"""Rule fit_mixture: a Beta mixture per epoch for every signal of one run."""
from alsofilter.stages.mixture import rule_fit_mixture

rule_fit_mixture(snakemake)  # noqa: F821 (Snakemake defines it)
