"""Rules figure_*: one figure (PNG and PDF) of the whole experiment."""
from alsofilter.pipeline import (auc_figure, auc_vs_rate_figure, bmm_figure, memorization_figure,
                                 setup_logging)

setup_logging(snakemake.log[0])
out = [snakemake.output.png, snakemake.output.pdf]
figure = snakemake.params.figure
if figure == "auc":
    auc_figure(snakemake.params.runs, snakemake.input.metrics, out,
               reference=snakemake.params.get("reference"))
elif figure == "bmm":
    bmm_figure(snakemake.params.runs, snakemake.input.signals, snakemake.input.mixture,
               snakemake.input.metrics, out)
elif figure == "memorization":
    memorization_figure(snakemake.params.runs, snakemake.input.history, out)
elif figure == "auc_vs_rate":
    auc_vs_rate_figure(snakemake.input.summary, out)
else:
    raise ValueError(f"unknown figure {figure!r}")
