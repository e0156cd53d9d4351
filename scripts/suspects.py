"""Rule suspects: the gallery (figure and HTML page) of one run's most suspicious training images."""
from alsofilter.stages.suspects import rule_suspects

rule_suspects(snakemake)  # noqa: F821 (Snakemake defines it)
