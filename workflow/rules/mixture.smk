rule fit_mixture:
    """Two-component Beta mixture per epoch on every signal of one run."""
    input:
        signals=f"{RUN_DIR}/signals.npz",
    output:
        mixture=f"{RUN_DIR}/mixture.npz",
    log:
        f"{LOGS}/mixture/{RUN_PATTERN}.log",
    benchmark:
        f"{BENCH}/mixture/{RUN_PATTERN}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        signals=config["signals"],
        bmm=config["bmm"],
    script:
        "../../scripts/fit_mixture.py"
