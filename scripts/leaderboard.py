"""Rule leaderboard: every detector's scores and cost in one table and figure."""
from alsofilter.leaderboard import leaderboard_files
from alsofilter.pipeline import setup_logging

setup_logging(snakemake.log[0])
leaderboard_files(snakemake.params.runs, snakemake.input.metrics, snakemake.input.train_benchmarks,
                  snakemake.params.crossval, snakemake.params.folds, snakemake.output.csv,
                  snakemake.output.md, snakemake.output.png, snakemake.output.pdf)
