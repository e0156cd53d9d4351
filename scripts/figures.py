"""Rules figure_*: one figure (PNG and PDF) of the whole experiment."""
from alsofilter.stages.report import rule_figure

rule_figure(snakemake)  # noqa: F821 (Snakemake defines it)
