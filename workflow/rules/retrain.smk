# Retraining on a cleaned training set (alsofilter.stages.retrain): one training job per
# (scenario, seed, detector, mode) of the downstream stage (downstream.smk). Paths: DOWN_DIR, DOWN_CLEANED (common.smk).


rule retrain:
    """The AdamW baseline's recipe (architecture, epochs, augmentation, seed) trained from scratch
    on one cleaned training set; clean test accuracy per epoch in history.csv."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
        cleaned=DOWN_CLEANED,
    output:
        signals=f"{DOWN_DIR}/signals.npz",
        history=f"{DOWN_DIR}/history.csv",
        provenance=f"{DOWN_DIR}/provenance.json",
    log:
        f"{LOGS}/retrain/{CV_SCENARIO}/{{detector}}/{{mode}}.log",
    benchmark:
        f"{BENCH}/retrain/{CV_SCENARIO}/{{detector}}/{{mode}}.tsv"
    priority: lambda wc: training_priority(adamw_baseline_settings(wc), wc.dataset)
    conda:
        "../../envs/train.yaml"
    threads: config["threads"]
    resources:
        **training_resources(),
    params:
        settings=lambda wc: adamw_baseline_settings(wc),
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
        checkpoint=f"{RESULTS}/checkpoints/downstream/{CV_SCENARIO}/{{detector}}/{{mode}}.pt",
        checkpoint_every=config["checkpoint_every"],
        stall_timeout=config["stall_timeout"],
        name=f"downstream/{CV_SCENARIO}/{{detector}}/{{mode}}",
    script:
        "../../scripts/retrain.py"
