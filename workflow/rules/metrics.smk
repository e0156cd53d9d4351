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
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/metrics.py"


rule rank_samples:
    """The run's training samples, most suspicious first, by its method's own signal at the last
    epoch (ALSO: weight π, AdamW: loss), with the BMM noise probability and the prediction; and
    the same decision (noise probability > 0.5) as cleaned labels, in downstream.modes' first mode.
    """
    input:
        dataset=prepared_input,
        signals=f"{RUN_DIR}/signals.npz",
        mixture=f"{RUN_DIR}/mixture.npz",
    output:
        ranked=f"{RUN_DIR}/ranked_samples.csv",
        cleaned=f"{RUN_DIR}/cleaned_labels.csv",
    log:
        f"{LOGS}/rank_samples/{RUN_PATTERN}.log",
    benchmark:
        f"{BENCH}/rank_samples/{RUN_PATTERN}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cleaned_mode=DOWNSTREAM_MODES[0],
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
        bmm=config["bmm"],
    script:
        "../../scripts/rank_samples.py"
