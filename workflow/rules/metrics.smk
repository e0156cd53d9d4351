rule metrics:
    """ROC-AUC, AP and the BMM decision's precision/recall/F1 per epoch and signal."""
    input:
        signals=f"{RUN_DIR}/signals.npz",
        mixture=f"{RUN_DIR}/mixture.npz",
    output:
        metrics=f"{RUN_DIR}/metrics.csv",
    log:
        f"{LOGS}/metrics/{RUN_PATTERN}.log",
    benchmark:
        f"{BENCH}/metrics/{RUN_PATTERN}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/metrics.py"
