"""Rule leaderboard: every detector's scores and cost in one table and figure."""
from alsofilter.stages.leaderboard import rule_leaderboard

rule_leaderboard(snakemake)  # noqa: F821 (Snakemake defines it)
