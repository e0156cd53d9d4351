rule prepare_data:
    """Decode a dataset's source once per experiment (image folder, CIFAR pickles, npz, digits),
    cut it to its configured subset, and write the cache every later job reads memory-mapped.
    The source's fingerprint (file names, sizes, mtimes) is a parameter: a changed source makes
    a new cache, and everything downstream reruns."""
    output:
        [f"{PREPARED_DIR}/{name}" for name in PREPARED_FILES],
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare_data/{{dataset}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2  # image decoding threads (Snakemake lowers it to --cores)
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        out_dir=PREPARED_DIR,
        data_dir=config["data_dir"],
        dataset_options=lambda wc: dataset_options(wc.dataset),
        subset=lambda wc: dataset_subset(wc.dataset),
        fingerprint=lambda wc: dataset_fingerprint(wc.dataset),
    script:
        "../../scripts/prepare_data.py"
