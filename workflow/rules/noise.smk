rule make_noise:
    """Noisy labels of one (dataset, noise type, rate, seed): synthetic, or human labels from a file."""
    input:
        dataset=prepared_input,
        human_labels=human_labels_input,
    output:
        csv=f"{NOISE_PATTERN}.csv",
        json=f"{NOISE_PATTERN}.json",
    log:
        f"{LOGS}/noise/{{dataset}}/{{noise}}-{{rate}}-seed{{seed}}.log",
    benchmark:
        f"{BENCH}/noise/{{dataset}}/{{noise}}-{{rate}}-seed{{seed}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        data_dir=config["data_dir"],
        noise_options=lambda wc: noise_spec(config, wc.dataset),
        dataset_options=prepared_options,
    script:
        "../../scripts/make_noise.py"
