rule train:
    """Train one run (AdamW, ALSO-min or ALSO-max) and record per-sample signals every epoch."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
    output:
        signals=f"{RUN_DIR}/signals.npz",
        history=f"{RUN_DIR}/history.csv",
        provenance=f"{RUN_DIR}/provenance.json",
    log:
        f"{LOGS}/train/{RUN_PATTERN}.log",
    benchmark:
        f"{BENCH}/train/{RUN_PATTERN}.tsv"
    # longest runs first (ResNet-34, ALSO): shortens the whole experiment when jobs outnumber cores
    priority:
        lambda wc: training_priority(
            training_settings(config, run_from_wildcards(wc)), wc.dataset
        )
    conda:
        "../../envs/train.yaml"
    threads: config["threads"]
    resources:
        **training_resources(),
    params:
        settings=lambda wc: training_settings(config, run_from_wildcards(wc)),
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
        # not an output: survives a killed job, so a rerun resumes from it
        checkpoint=f"{RESULTS}/checkpoints/{RUN_PATTERN}/checkpoint.pt",
        checkpoint_every=config["checkpoint_every"],
        # seconds without a finished batch before the job dumps its stacks and fails (0: off)
        stall_timeout=config["stall_timeout"],  # schema default: 900
        name=RUN_PATTERN,
    script:
        "../../scripts/train.py"
