from alsofilter.config import suspects_top_n


rule suspects:
    """The run's top-N most suspicious training images (config suspects.top_n, default 64), in
    rank order of ranked_samples.csv. Outputs: the figure figures/suspects/<dataset>/<arch>/
    <method>/<noise>-<rate>-seed<seed>.{png,pdf} (a grid of the images, each titled given →
    predicted label with its noise probability, framed vermillion when its label was truly
    flipped and blue when correct, where the noise is synthetic), and suspects.html in the run
    folder (the same images larger with every column of ranked_samples.csv, sortable, filterable
    by given and predicted class; self-contained, opens from disk). A few seconds per run.
    """
    input:
        dataset=prepared_input,
        ranked=f"{RUN_DIR}/ranked_samples.csv",
    output:
        png=report(
            f"{RESULTS}/figures/suspects/{RUN_PATTERN}.png",
            caption="../report/suspects.rst",
            category="Suspects",
            subcategory="{dataset} · {arch} · {noise} {rate}",
            labels={"method": "{method}", "seed": "{seed}"},
        ),
        pdf=f"{RESULTS}/figures/suspects/{RUN_PATTERN}.pdf",
        html=f"{RUN_DIR}/suspects.html",
    log:
        f"{LOGS}/suspects/{RUN_PATTERN}.log",
    benchmark:
        f"{BENCH}/suspects/{RUN_PATTERN}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset_options=prepared_options,
        top_n=suspects_top_n(config),
    script:
        "../../scripts/suspects.py"
