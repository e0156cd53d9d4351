"""Rules figure_*: one figure (PNG and PDF) of the whole experiment."""
from alsofilter.pipeline import auc_figure, bmm_figure, memorization_figure, setup_logging

setup_logging(snakemake.log[0])
runs, out = snakemake.params.runs, [snakemake.output.png, snakemake.output.pdf]
figure = snakemake.params.figure
if figure == "auc":
    auc_figure(runs, snakemake.input.metrics, out)
elif figure == "bmm":
    bmm_figure(runs, snakemake.input.signals, snakemake.input.mixture, snakemake.input.metrics, out)
elif figure == "memorization":
    memorization_figure(runs, snakemake.input.history, out)
else:
    raise ValueError(f"unknown figure {figure!r}")
