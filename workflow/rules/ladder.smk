# The scale ladder (config ladder: true): the same scenario on nested training sets of growing
# size; ROC-AUC per epoch by size and the table per rung (alsofilter.reporting.ladder).


rule ladder:
    """Per rung (training-set size) and detector: final / best ROC-AUC, BMM decision, clean test
    accuracy, training seconds, paired verdicts against AdamW; the figure by size."""
    input:
        metrics=run_paths("metrics.csv"),
        histories=run_paths("history.csv"),
        signals=run_paths("signals.npz"),
        mixtures=run_paths("mixture.npz"),
    output:
        csv=report(
            f"{RESULTS}/tables/ladder.csv",
            caption="../report/ladder_table.rst",
            category="Scale ladder",
        ),
        md=f"{RESULTS}/tables/ladder.md",
        png=report(
            f"{RESULTS}/figures/ladder.png",
            caption="../report/ladder.rst",
            category="Scale ladder",
        ),
        pdf=f"{RESULTS}/figures/ladder.pdf",
    log:
        f"{LOGS}/ladder.log",
    benchmark:
        f"{BENCH}/ladder.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runs=run_keys(),
        sizes=LADDER_SIZES,
    script:
        "../../scripts/ladder.py"
