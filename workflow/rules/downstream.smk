# Does filtering help? Each detector's last-epoch decision cleans the training set (drop or
# relabel the flagged samples: alsofilter.detectors.decisions), the AdamW baseline's recipe is trained
# from scratch on it (retrain.smk), and the clean test accuracies are compared with no
# filtering and the oracle (alsofilter.reporting.downstream). Which job measures what:
# alsofilter.config.downstream; its paths: DOWN_CLEANED, downstream_items (common.smk).


rule cleaned_labels:
    """Per (scenario, seed): every listed detector's and reference's cleaned_labels.csv, per mode."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
        signals=lambda wc: downstream_run_files(wc, "signals.npz"),
        mixtures=lambda wc: downstream_run_files(wc, "mixture.npz"),
        crossval=lambda wc: list(downstream_crossval_files(wc).values()),
    output:
        cleaned=expand(
            DOWN_CLEANED,
            zip,
            detector=[d for d, _ in downstream_variants(config)],
            mode=[m for _, m in downstream_variants(config)],
            allow_missing=True,
        ),
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
        variants=downstream_variants(config),
        methods=downstream_run_methods(config),
        crossval=downstream_crossval_files,
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
    script:
        "../../scripts/cleaned_labels.py"


rule downstream:
    """Per scenario, detector and mode: kept fraction, correct kept labels, final and best clean
    test accuracy (mean ± std over seeds), gap to the oracle; and the figure."""
    input:
        files=[
            f
            for item in downstream_items()
            for f in (item.cleaned, item.history, item.noise, *item.benchmarks)
        ],
        datasets=[
            f"{PREPARED_DIR}/dataset.json".format(dataset=d) for d in DATASET_NAMES
        ],
    output:
        csv=report(
            f"{RESULTS}/tables/downstream.csv",
            caption="../report/downstream_table.rst",
            category="Downstream",
        ),
        md=f"{RESULTS}/tables/downstream.md",
        paired=f"{RESULTS}/tables/downstream_paired.csv",
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
