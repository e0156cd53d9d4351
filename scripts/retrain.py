"""Rule retrain: the AdamW baseline's recipe trained from scratch on one cleaned training set."""
from alsofilter.stages.retrain import rule_retrain

rule_retrain(snakemake)  # noqa: F821 (Snakemake defines it)
