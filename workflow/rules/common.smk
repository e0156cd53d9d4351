# Shared set-up: config validation, the run grid and path functions. Every decision (which runs,
# which job's result a table reuses) is made in src/alsofilter and unit-tested there; here it only
# becomes paths. Rules refer to each other's files by rules.<name>.output.<key> / .benchmark.
import dataclasses
import os
import re
import sys

from snakemake.exceptions import WorkflowError

_SRC = os.path.join(workflow.basedir, "src")
# Make the package importable by the rules' scripts (pip path and conda envs alike).
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
)
sys.path.insert(0, _SRC)

from alsofilter.data.fingerprint import source_fingerprint  # noqa: E402
from alsofilter.data.prepared import FILES as PREPARED_FILES  # noqa: E402
from alsofilter.config.settings import relative_cost  # noqa: E402
from alsofilter.config import validate as validate_config  # noqa: E402
from alsofilter.config import (  # noqa: E402
    ConfigError,
    check_config,
    crossval_settings,
    pixel_classifier_setting,
    dataset_spec,
    dataset_train_size,
    downstream_settings,
    expand_runs,
    human_labels_path,
    ladder_sizes,
    noise_spec,
    scenario_keys,
    scenario_wildcards,
    training_gpus,
    training_settings,
)
from alsofilter.config.downstream import (  # noqa: E402
    DownstreamItem,
    downstream_jobs,
    downstream_run_methods,
    downstream_variants,
)

# 1. the JSON schema, the one source of every setting (alsofilter/config/config.schema.yaml: types,
# ranges, allowed values, unknown keys), which also fills in the defaults -- the same jsonschema
# validation as snakemake.utils.validate(set_default=True), with messages that name the key, the
# value and what is allowed; 2. what a schema cannot express (names, cross-field rules, files,
# dataset sizes). Data files themselves are checked when a job reads them, so dry runs plan without them.
try:
    config.update(validate_config(config))
    check_config(config)
except ConfigError as _err:
    raise WorkflowError(f"invalid configuration: {_err}") from None

RESULTS = f"results/{config['experiment']}"
RUNS = expand_runs(config)
#: the datasets of the grid, in grid order
DATASET_NAMES = list(dict.fromkeys(r.dataset for r in RUNS))
RUN_PATTERN = "{dataset}/{arch}/{method}/{noise}-{rate}-seed{seed}"
RUN_DIR = f"{RESULTS}/runs/{RUN_PATTERN}"
NOISE_PATTERN = f"{RESULTS}/noise/{{dataset}}/{{noise}}-{{rate}}-seed{{seed}}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


def _alternatives(values):
    return "|".join(re.escape(str(v)) for v in sorted(set(values)))


# Wildcards only ever match values of this config (exact alternatives, regex-escaped), so a path
# like results/../x or one with a shell metacharacter never matches a rule. Dataset names are
# [A-Za-z0-9][A-Za-z0-9_-]* (checked above); human noise appears as human-<name>.
wildcard_constraints:
    dataset=_alternatives(r.dataset for r in RUNS),
    arch=_alternatives(r.arch for r in RUNS),
    method=_alternatives(r.method for r in RUNS),
    noise=_alternatives(r.noise for r in RUNS),
    rate=_alternatives(r.rate_str for r in RUNS),
    seed=_alternatives(r.seed for r in RUNS),
    fold=r"\d+",
    detector=_alternatives(["none", "oracle", *downstream_settings(config)[0]]),
    mode="drop|relabel",


def run_paths(filename):
    """The file ``filename`` of every run's folder, in grid order."""
    return [
        f"{RESULTS}/runs/{RUN_PATTERN.format(**r.wildcards())}/{filename}" for r in RUNS
    ]


def run_keys():
    return [r.keys() for r in RUNS]


def run_from_wildcards(wc):
    for r in RUNS:
        if r.wildcards() == {
            k: wc[k] for k in ("dataset", "arch", "method", "noise", "rate", "seed")
        }:
            return r
    raise ValueError(f"no run in the config matches {dict(wc)}")


SCENARIO_SEEDS = scenario_keys(RUNS)  # (dataset, arch, noise, rate, seed) in grid order


def adamw_baseline_settings(wc):
    """The AdamW baseline's training settings of a (scenario, seed): what cross-validation folds
    and downstream retraining jobs train with."""
    for r in RUNS:
        if {k: v for k, v in r.wildcards().items() if k != "method"} == {
            k: wc[k] for k in ("dataset", "arch", "noise", "rate", "seed")
        }:
            return training_settings(config, dataclasses.replace(r, method="adamw"))
    raise ValueError(f"no run in the config matches {dict(wc)}")


CV_FOLDS, CV_DETECTORS = crossval_settings(config)
CV_PIXEL_CLASSIFIER = pixel_classifier_setting(config)
# one (scenario, seed)'s cross-validation folder; the pixel classifier does not depend on the arch
CV_SCENARIO = "{dataset}/{arch}/{noise}-{rate}-seed{seed}"
CV_PIXELS_SCENARIO = "{dataset}/{noise}-{rate}-seed{seed}"
CV_DIR = f"{RESULTS}/crossval/{CV_SCENARIO}"
CV_PIXELS_DIR = f"{RESULTS}/crossval/{{dataset}}/pixels/{{noise}}-{{rate}}-seed{{seed}}"


def crossval_outputs():
    """Every (scenario, seed)'s cross-validated detector files (metrics tables), per detector."""
    rule_of = {
        "cleanlab_network": rules.crossval_cleanlab_network,
        "cleanlab_pixels": rules.crossval_cleanlab_pixels,
    }
    return {
        d: [
            rule_of[d].output.metrics.format(**scenario_wildcards(s))
            for s in SCENARIO_SEEDS
        ]
        for d in CV_DETECTORS
    }


_TRAIN_SIZES = {}


def training_priority(settings, dataset, share=1.0):
    """Snakemake priority of a training job: its relative compute (alsofilter.config.settings.relative_cost,
    ``share`` of ``dataset``'s training set), so that the longest jobs start first (a ladder's
    largest rung before its smaller ones)."""
    if dataset not in _TRAIN_SIZES:
        _TRAIN_SIZES[dataset] = dataset_train_size(config, dataset)
    return int(round(1000 * share * relative_cost(settings, _TRAIN_SIZES[dataset])))


def training_resources():
    """The resources of the three rules that train a network (train, crossval_fold, retrain;
    alsofilter.config.TRAINING_RULES). One GPU where the config's device is cuda or auto
    (alsofilter.config.training_gpus, decided from the config, not from this host), memory and time limits.
    """
    return {"gpu": training_gpus(config), "mem_mb": 8000, "runtime": 240}


def dataset_options(dataset):
    """How the prepare_data job reads ``dataset``'s source: format, path and loader options
    (alsofilter.config.dataset_spec)."""
    return dataset_spec(config, dataset)


# Every job after prepare_data reads the dataset from its cache (alsofilter.data.prepared).
PREPARED_DIR = f"{RESULTS}/data/{{dataset}}"


def prepared_input(wc):
    """The prepared dataset's files, as a job's input (dataset.json is written last)."""
    return f"{PREPARED_DIR}/dataset.json".format(dataset=wc.dataset)


def prepared_options(wc):
    """How a job loads the prepared dataset (alsofilter.data.loading.load_pipeline_dataset)."""
    return {"format": "prepared", "path": PREPARED_DIR.format(dataset=wc.dataset)}


def dataset_subset(dataset):
    return (config.get("datasets") or {}).get(dataset, {}).get("subset")


_FINGERPRINTS = {}


def dataset_fingerprint(dataset):
    """The source's fingerprint (alsofilter.data.fingerprint.source_fingerprint), once per snakemake call."""
    if dataset not in _FINGERPRINTS:
        spec = dict(dataset_spec(config, dataset))
        fmt, path = spec.pop("format"), spec.pop("path", None)
        spec.pop("download", None)
        _FINGERPRINTS[dataset] = source_fingerprint(fmt, path, config["data_dir"], spec)
    return _FINGERPRINTS[dataset]


def human_labels_input(wc):
    """The label file of human noise as an input of make_noise (missing file: a clear error;
    a changed file: the noise is made again)."""
    if wc.noise.startswith("human-"):
        return [human_labels_path(config, wc.dataset)]
    return []


TABLES = (
    "summary.csv",
    "summary_by_seed.csv",
    "summary_by_seed.md",
    "summary_by_seed.tex",
    "paper_comparison.csv",
    "paper_comparison.md",
)


def summary_outputs():
    """Tables of the experiment."""
    return [f"{RESULTS}/tables/{name}" for name in TABLES]


def ranked_outputs():
    """Every run's ranked list of suspicious samples and its cleaned labels."""
    return run_paths("ranked_samples.csv") + run_paths("cleaned_labels.csv")


FIGURES = ("auc_per_epoch", "bmm_fits", "memorization", "auc_vs_rate")


def figure_outputs():
    return [
        f"{RESULTS}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")
    ]


LADDER_SIZES = ladder_sizes(config)  # dataset -> training-set size; None: not a ladder


def ladder_outputs():
    """The scale ladder's table and figure (config ladder: true), else nothing."""
    if LADDER_SIZES is None:
        return []
    return [f"{RESULTS}/tables/ladder.{ext}" for ext in ("csv", "md")] + [
        f"{RESULTS}/figures/ladder.{ext}" for ext in ("png", "pdf")
    ]


def leaderboard_crossval():
    """detector -> [(scenario key, metrics.csv, [benchmark .tsv of its training jobs])]."""
    out = {}
    for detector, paths in crossval_outputs().items():
        items = []
        for scen, metrics in zip(SCENARIO_SEEDS, paths):
            wc = scenario_wildcards(scen)
            if detector == "cleanlab_network":
                bench = [
                    rules.crossval_fold.benchmark.format(**wc, fold=k)
                    for k in range(CV_FOLDS)
                ]
            else:
                bench = [rules.crossval_cleanlab_pixels.benchmark.format(**wc)]
            items.append((scen, metrics, bench))
        out[detector] = items
    return out


def train_benchmarks():
    """Every run's benchmark file of its training job, in grid order."""
    return [rules.train.benchmark.format(**r.wildcards()) for r in RUNS]


def leaderboard_inputs():
    files = []
    for items in leaderboard_crossval().values():
        for _, metrics, bench in items:
            files += [metrics, metrics.replace("metrics.csv", "detection.npz"), *bench]
    return files


def suspects_outputs():
    """Every run's gallery of its most suspicious training images: the figure (PNG, PDF) under
    figures/suspects/ and suspects.html in the run folder."""
    figures = [
        f"{RESULTS}/figures/suspects/{RUN_PATTERN.format(**r.wildcards())}.{ext}"
        for r in RUNS
        for ext in ("png", "pdf")
    ]
    return figures + run_paths("suspects.html")


# Downstream: retraining on each detector's cleaned labels. Which (detector, mode) pairs each
# (scenario, seed) has and which job measures each: alsofilter.config.downstream.
DOWNSTREAM_DETECTORS, DOWNSTREAM_MODES = downstream_settings(config)
DOWN_DIR = f"{RESULTS}/downstream/{CV_SCENARIO}/{{detector}}/{{mode}}"
#: the training set of one (scenario, seed, detector, mode): made by cleaned_labels, read by retrain
DOWN_CLEANED = f"{DOWN_DIR}/cleaned_labels.csv"
DOWNSTREAM_JOBS = downstream_jobs(config, SCENARIO_SEEDS)


def downstream_item(job):
    """A DownstreamJob's files: its cleaned labels, and the history and benchmark of the job that
    measures it (the AdamW run, or its retraining: rules train and retrain)."""
    wc = scenario_wildcards(job.scenario)
    source = scenario_wildcards(job.source_scenario)
    if job.source == "run":
        measured = {**source, "method": "adamw"}
        measuring = rules.train
    else:
        measured = {**source, "detector": job.detector, "mode": job.mode}
        measuring = rules.retrain
    return DownstreamItem(
        job.scenario,
        job.detector,
        job.mode,
        cleaned=DOWN_CLEANED.format(**wc, detector=job.detector, mode=job.mode),
        history=measuring.output.history.format(**measured),
        noise=rules.make_noise.output.csv.format(**wc),
        benchmarks=[measuring.benchmark.format(**measured)],
    )


def downstream_items():
    """Every (scenario, seed, detector, mode) of the downstream table with its files (DownstreamItem)."""
    return [downstream_item(job) for job in DOWNSTREAM_JOBS]


def downstream_outputs():
    if not DOWNSTREAM_DETECTORS:
        return []
    return [f"{RESULTS}/tables/downstream.{ext}" for ext in ("csv", "md")] + [
        f"{RESULTS}/figures/downstream.{ext}" for ext in ("png", "pdf")
    ]


def downstream_run_files(wc, kind):
    """The runs' signals.npz or mixture.npz that the listed detectors of this scenario read."""
    return [
        f"{RESULTS}/runs/{RUN_PATTERN}/{kind}".format(**wc, method=m)
        for m in downstream_run_methods(config)
    ]


def downstream_crossval_files(wc):
    paths = {
        "cleanlab_network": f"{CV_DIR}/cleanlab_network/detection.npz",
        "cleanlab_pixels": f"{CV_PIXELS_DIR}/cleanlab_pixels/detection.npz",
    }
    return {d: paths[d].format(**wc) for d in DOWNSTREAM_DETECTORS if d in paths}
