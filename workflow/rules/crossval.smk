# Detectors that need cross-validated training of their own: confident learning (cleanlab) on
# out-of-sample probabilities (alsofilter.detectors.confident_learning). Folds: stratified on the given labels, seeded
# with the run's seed; the same folds for the network and the pixel classifier.
# Paths: CV_DIR, CV_PIXELS_DIR, CV_SCENARIO (common.smk).


rule crossval_cleanlab_network:
    """cleanlab (find_label_issues, label quality scores) on the K folds' out-of-sample probabilities."""
    input:
        noise=f"{NOISE_PATTERN}.csv",
        folds=expand(
            f"{CV_DIR}/fold{{fold}}/predictions.npz",
            fold=range(CV_FOLDS),
            allow_missing=True,
        ),
    output:
        detection=f"{CV_DIR}/cleanlab_network/detection.npz",
        metrics=f"{CV_DIR}/cleanlab_network/metrics.csv",
    log:
        f"{LOGS}/crossval_cleanlab_network/{CV_SCENARIO}.log",
    benchmark:
        f"{BENCH}/crossval_cleanlab_network/{CV_SCENARIO}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/crossval_cleanlab_network.py"


rule crossval_cleanlab_pixels:
    """cleanlab on out-of-sample probabilities of a pixel classifier (crossval.pixel_classifier:
    logistic regression, RBF SVM or kNN on the raw pixels after PCA; same folds)."""
    input:
        dataset=prepared_input,
        noise=f"{NOISE_PATTERN}.csv",
    output:
        detection=f"{CV_PIXELS_DIR}/cleanlab_pixels/detection.npz",
        metrics=f"{CV_PIXELS_DIR}/cleanlab_pixels/metrics.csv",
    log:
        f"{LOGS}/crossval_cleanlab_pixels/{CV_PIXELS_SCENARIO}.log",
    benchmark:
        f"{BENCH}/crossval_cleanlab_pixels/{CV_PIXELS_SCENARIO}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        folds=CV_FOLDS,
        classifier=CV_PIXEL_CLASSIFIER,
        data_dir=config["data_dir"],
        dataset_options=prepared_options,
    script:
        "../../scripts/crossval_cleanlab_pixels.py"
