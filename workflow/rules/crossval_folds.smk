# The training jobs of cleanlab_network (alsofilter.stages.crossval_folds): the AdamW baseline's
# network trained on K-1 folds, predicting the held-out fold. Folds: stratified on the given labels,
# seeded with the run's seed. Paths: CV_DIR, CV_SCENARIO (common.smk).


rule crossval_fold:
    """One fold of cleanlab_network: the AdamW baseline's network and recipe trained on the other
    K-1 folds (a resumable training job like any other), predicting the held-out fold at its last
    epoch."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
    output:
        predictions=f"{CV_DIR}/fold{{fold}}/predictions.npz",
        signals=f"{CV_DIR}/fold{{fold}}/signals.npz",
        history=f"{CV_DIR}/fold{{fold}}/history.csv",
        provenance=f"{CV_DIR}/fold{{fold}}/provenance.json",
    log:
        f"{LOGS}/crossval_fold/{CV_SCENARIO}/fold{{fold}}.log",
    benchmark:
        f"{BENCH}/crossval_fold/{CV_SCENARIO}/fold{{fold}}.tsv"
    priority:
        lambda wc: training_priority(
            adamw_baseline_settings(wc), wc.dataset, (CV_FOLDS - 1) / CV_FOLDS
        )
    conda:
        "../../envs/train.yaml"
    threads: config["threads"]
    resources:
        **training_resources(),
    params:
        settings=lambda wc: adamw_baseline_settings(wc),
        folds=CV_FOLDS,
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
        checkpoint=f"{RESULTS}/checkpoints/crossval/{CV_SCENARIO}/fold{{fold}}.pt",
        checkpoint_every=config["checkpoint_every"],
        stall_timeout=config["stall_timeout"],
        name=f"crossval/{CV_SCENARIO}/fold{{fold}}",
    script:
        "../../scripts/crossval_fold.py"
