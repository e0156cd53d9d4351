# Does filtering help? Each detector's last-epoch decision cleans the training set (drop or
# relabel the flagged samples: alsofilter.detectors.decisions), the AdamW baseline's recipe is trained
# from scratch on it (alsofilter.stages.downstream), and the clean test accuracies are compared with no
# filtering and the oracle (alsofilter.reporting.downstream). Paths: DOWN_DIR, downstream_items (common.smk).


rule cleaned_labels:
    """Per (scenario, seed): every listed detector's and reference's cleaned_labels.csv, per mode."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
        signals=lambda wc: downstream_run_files(wc, "signals.npz"),
        mixtures=lambda wc: downstream_run_files(wc, "mixture.npz"),
        crossval=lambda wc: list(downstream_crossval_files(wc).values()),
    output:
        cleaned=[
            f"{RESULTS}/downstream/{CV_SCENARIO}/{d}/{m}/cleaned_labels.csv"
            for d, m in downstream_variants()
        ],
    log:
        f"{LOGS}/cleaned_labels/{CV_SCENARIO}.log",
    benchmark:
        f"{BENCH}/cleaned_labels/{CV_SCENARIO}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        variants=downstream_variants(),
        methods=downstream_run_methods(),
        crossval=downstream_crossval_files,
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
    script:
        "../../scripts/cleaned_labels.py"


rule retrain:
    """The AdamW baseline's recipe (architecture, epochs, augmentation, seed) trained from scratch
    on one cleaned training set; clean test accuracy per epoch in history.csv."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
        cleaned=f"{DOWN_DIR}/cleaned_labels.csv",
    output:
        signals=f"{DOWN_DIR}/signals.npz",
        history=f"{DOWN_DIR}/history.csv",
        provenance=f"{DOWN_DIR}/provenance.json",
    log:
        f"{LOGS}/retrain/{CV_SCENARIO}/{{detector}}/{{mode}}.log",
    benchmark:
        f"{BENCH}/retrain/{CV_SCENARIO}/{{detector}}/{{mode}}.tsv"
    priority: lambda wc: training_priority(adamw_baseline_settings(wc))
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


rule downstream:
    """Per scenario, detector and mode: kept fraction, correct kept labels, final and best clean
    test accuracy (mean ± std over seeds), gap to the oracle; and the figure."""
    input:
        files=[
            f
            for item in downstream_items()
            for f in (item[3], item[4], item[5], *item[6])
        ],
    output:
        csv=report(
            f"{RESULTS}/tables/downstream.csv",
            caption="../report/downstream_table.rst",
            category="Downstream",
        ),
        md=f"{RESULTS}/tables/downstream.md",
        png=report(
            f"{RESULTS}/figures/downstream.png",
            caption="../report/downstream.rst",
            category="Downstream",
        ),
        pdf=f"{RESULTS}/figures/downstream.pdf",
    log:
        f"{LOGS}/downstream.log",
    benchmark:
        f"{BENCH}/downstream.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        variants=downstream_items(),
    script:
        "../../scripts/downstream.py"
