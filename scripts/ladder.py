"""Rule ladder: the scale ladder's table and figure (ROC-AUC by training-set size)."""
from alsofilter.stages.ladder import rule_ladder

rule_ladder(snakemake)  # noqa: F821 (Snakemake defines it)
