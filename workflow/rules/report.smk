rule summary_tables:
    """One row per run and signal, and the seed-aggregated tables (CSV, Markdown, LaTeX)."""
    input:
        metrics=run_paths("metrics.csv"),
        history=run_paths("history.csv"),
    output:
        summary=report(
            f"{RESULTS}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        by_seed=report(
            f"{RESULTS}/tables/summary_by_seed.csv",
            caption="../report/summary_by_seed.rst",
            category="Tables",
        ),
        by_seed_md=f"{RESULTS}/tables/summary_by_seed.md",
        by_seed_tex=f"{RESULTS}/tables/summary_by_seed.tex",
    log:
        f"{LOGS}/summary_tables.log",
    benchmark:
        f"{BENCH}/summary_tables.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runs=run_keys(),
    script:
        "../../scripts/summary_tables.py"


rule figure_auc:
    """ROC-AUC per epoch per scenario: ALSO blue, AdamW red, seeds as a band, the paper's values dashed."""
    input:
        metrics=run_paths("metrics.csv"),
    output:
        png=report(
            f"{RESULTS}/figures/auc_per_epoch.png",
            caption="../report/auc_per_epoch.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/auc_per_epoch.pdf",
    log:
        f"{LOGS}/figure_auc.log",
    benchmark:
        f"{BENCH}/figure_auc.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runs=run_keys(),
        figure="auc",
        reference="paper",  # the paper's values (SPEC §7) as thin dashed lines where a scenario matches
    script:
        "../../scripts/figures.py"


rule figure_bmm:
    """Histograms of ALSO weights (last epoch) and AdamW losses (turning point) with the BMM fits."""
    input:
        signals=run_paths("signals.npz"),
        mixture=run_paths("mixture.npz"),
        metrics=run_paths("metrics.csv"),
    output:
        png=report(
            f"{RESULTS}/figures/bmm_fits.png",
            caption="../report/bmm_fits.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/bmm_fits.pdf",
    log:
        f"{LOGS}/figure_bmm.log",
    benchmark:
        f"{BENCH}/figure_bmm.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        runs=run_keys(),
        figure="bmm",
    script:
        "../../scripts/figures.py"


rule figure_memorization:
    """Correct / memorized / incorrect fractions of the mislabeled samples per epoch."""
    input:
        history=run_paths("history.csv"),
    output:
        png=report(
            f"{RESULTS}/figures/memorization.png",
            caption="../report/memorization.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/memorization.pdf",
    log:
        f"{LOGS}/figure_memorization.log",
    benchmark:
        f"{BENCH}/figure_memorization.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runs=run_keys(),
        figure="memorization",
    script:
        "../../scripts/figures.py"


rule paper_comparison:
    """Our final and peak ROC-AUC (mean ± std over seeds) next to the paper's reported values."""
    input:
        summary=f"{RESULTS}/tables/summary.csv",
    output:
        csv=report(
            f"{RESULTS}/tables/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category="Tables",
        ),
        md=f"{RESULTS}/tables/paper_comparison.md",
    log:
        f"{LOGS}/paper_comparison.log",
    benchmark:
        f"{BENCH}/paper_comparison.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/paper_comparison.py"


rule figure_auc_vs_rate:
    """Final and best ROC-AUC against the noise rate, per dataset, noise type and architecture."""
    input:
        summary=f"{RESULTS}/tables/summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/auc_vs_rate.png",
            caption="../report/auc_vs_rate.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/auc_vs_rate.pdf",
    log:
        f"{LOGS}/figure_auc_vs_rate.log",
    benchmark:
        f"{BENCH}/figure_auc_vs_rate.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        figure="auc_vs_rate",
    script:
        "../../scripts/figures.py"
