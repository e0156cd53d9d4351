# ALSO + BMM noisy-label filtering: dataset cache -> noisy labels -> training runs -> Beta mixtures -> metrics
# -> tables and figures -> retraining on each detector's cleaned labels. See README.md. Run the demo with:  snakemake --cores 2
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare_data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/mixture.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/crossval_folds.smk"
include: "workflow/rules/crossval.smk"
include: "workflow/rules/leaderboard.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/suspects.smk"


if LADDER_SIZES is not None:  # config ladder: true

    include: "workflow/rules/ladder.smk"


if DOWNSTREAM_DETECTORS:  # config downstream.detectors; [] turns the stage off

    include: "workflow/rules/retrain.smk"
    include: "workflow/rules/downstream.smk"  # reads rules.retrain's paths


rule all:
    default_target: True
    input:
        summary_outputs(),
        ranked_outputs(),
        figure_outputs(),
        suspects_outputs(),
        f"{RESULTS}/tables/leaderboard.md",
        f"{RESULTS}/figures/leaderboard.png",
        downstream_outputs(),
        ladder_outputs(),
