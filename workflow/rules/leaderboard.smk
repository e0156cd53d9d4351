# The leaderboard: every detector (in-run signals with BMM and GMM decisions, cleanlab on
# cross-validated probabilities) on the same noise files, with its cost (alsofilter.reporting.leaderboard).


rule leaderboard:
    """Per scenario: every detector's final ROC-AUC, AP, decision precision/recall/F1 and cost."""
    input:
        metrics=run_paths("metrics.csv"),
        signals=run_paths("signals.npz"),
        mixtures=run_paths("mixture.npz"),
        histories=run_paths("history.csv"),
        train_benchmarks=train_benchmarks(),
        crossval=leaderboard_inputs(),
    output:
        csv=report(
            f"{RESULTS}/tables/leaderboard.csv",
            caption="../report/leaderboard_table.rst",
            category="Leaderboard",
        ),
        md=f"{RESULTS}/tables/leaderboard.md",
        paired=f"{RESULTS}/tables/leaderboard_paired.csv",
        png=report(
            f"{RESULTS}/figures/leaderboard.png",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        pdf=f"{RESULTS}/figures/leaderboard.pdf",
    log:
        f"{LOGS}/leaderboard.log",
    benchmark:
        f"{BENCH}/leaderboard.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runs=run_keys(),
        crossval=leaderboard_crossval(),
        folds=CV_FOLDS,
    script:
        "../../scripts/leaderboard.py"
