# Shared set-up: config validation, the run grid, path helpers. Logic lives in src/alsofilter.
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
from alsofilter.data.prepared import FILES as PREPARED_FILE_NAMES  # noqa: E402
from alsofilter.config.settings import relative_cost  # noqa: E402
from alsofilter.config import validate as validate_config  # noqa: E402
from alsofilter.config import (  # noqa: E402
    ConfigError,
    check_config,
    crossval_settings,
    pixel_classifier_setting,
    dataset_spec,
    downstream_settings,
    expand_runs,
    format_rate,
    human_labels_path,
    noise_spec,
    scenario_keys,
    training_gpus,
    training_settings,
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
    out = {}
    for d in CV_DETECTORS:
        pattern = (
            f"{CV_PIXELS_DIR if d == 'cleanlab_pixels' else CV_DIR}/{d}/metrics.csv"
        )
        out[d] = [
            pattern.format(**{**s, "rate": format_rate(s["rate"])})
            for s in SCENARIO_SEEDS
        ]
    return out


def training_priority(settings, share=1.0):
    """Snakemake priority of a training job: its relative compute (alsofilter.config.settings.relative_cost,
    ``share`` of the training set), so that the longest jobs start first."""
    return int(round(1000 * share * relative_cost(settings)))


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
PREPARED_FILES = PREPARED_FILE_NAMES


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


def leaderboard_crossval():
    """detector -> [(scenario key, metrics.csv, [benchmark .tsv of its training jobs])]."""
    out = {}
    for detector, paths in crossval_outputs().items():
        items = []
        for scen, metrics in zip(SCENARIO_SEEDS, paths):
            wc = {**scen, "rate": format_rate(scen["rate"])}
            if detector == "cleanlab_network":
                bench = [
                    f"{BENCH}/crossval_fold/{CV_SCENARIO}/fold{k}.tsv".format(**wc)
                    for k in range(CV_FOLDS)
                ]
            else:
                bench = [
                    f"{BENCH}/crossval_cleanlab_pixels/{CV_PIXELS_SCENARIO}.tsv".format(
                        **wc
                    )
                ]
            items.append((scen, metrics, bench))
        out[detector] = items
    return out


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


# Downstream: retraining on each detector's cleaned labels (alsofilter.detectors.decisions, alsofilter.stages.downstream,
# .downstream). Per (scenario, seed): the references (no filtering, oracle) and every listed
# detector in every mode. "No filtering" is the AdamW baseline run itself (same labels, recipe
# and seed; tests/test_downstream.py checks that a retraining reproduces it exactly), so it is
# retrained only when adamw is not among the methods.
DOWNSTREAM_DETECTORS, DOWNSTREAM_MODES = downstream_settings(config)
DOWN_DIR = f"{RESULTS}/downstream/{CV_SCENARIO}/{{detector}}/{{mode}}"


def downstream_variants():
    """The (detector, mode) pairs of every (scenario, seed); none only with drop (it flags nothing)."""
    if not DOWNSTREAM_DETECTORS:
        return []
    return (
        [("none", "drop")]
        + [("oracle", m) for m in DOWNSTREAM_MODES]
        + [(d, m) for d in DOWNSTREAM_DETECTORS for m in DOWNSTREAM_MODES]
    )


def scenario_wildcards(scen):
    return {**scen, "rate": format_rate(scen["rate"])}


def downstream_source(scen, detector, mode):
    """Which job measures (detector, mode) on one (scenario, seed): ``("run", scen)`` or
    ``("retrain", scen)``. Two are shared rather than trained again: no filtering is the AdamW
    run; the relabelling oracle trains on the true labels, which every noise scenario of a
    (dataset, arch, seed) has in common, so it is trained once, in the first such scenario of the
    grid (tests/test_downstream.py checks that both give bit-identical runs)."""
    if detector == "none" and "adamw" in config["methods"]:
        return "run", scen
    if detector == "oracle" and mode == "relabel":
        scen = next(
            s
            for s in SCENARIO_SEEDS
            if all(s[k] == scen[k] for k in ("dataset", "arch", "seed"))
        )
    return "retrain", scen


def downstream_items():
    """[(scenario key, detector, mode, cleaned_labels.csv, history.csv, noise.csv, [benchmarks])]."""
    items = []
    for scen in SCENARIO_SEEDS:
        wc = scenario_wildcards(scen)
        for detector, mode in downstream_variants():
            cleaned = f"{DOWN_DIR}/cleaned_labels.csv".format(
                **wc, detector=detector, mode=mode
            )
            kind, source = downstream_source(scen, detector, mode)
            swc = scenario_wildcards(source)
            if kind == "run":
                history = f"{RESULTS}/runs/{RUN_PATTERN}/history.csv".format(
                    **swc, method="adamw"
                )
                bench = f"{BENCH}/train/{RUN_PATTERN}.tsv".format(**swc, method="adamw")
            else:
                history = f"{DOWN_DIR}/history.csv".format(
                    **swc, detector=detector, mode=mode
                )
                bench = f"{BENCH}/retrain/{CV_SCENARIO}/{detector}/{mode}.tsv".format(
                    **swc
                )
            items.append(
                (
                    scen,
                    detector,
                    mode,
                    cleaned,
                    history,
                    f"{NOISE_PATTERN}.csv".format(**wc),
                    [bench],
                )
            )
    return items


def downstream_outputs():
    if not DOWNSTREAM_DETECTORS:
        return []
    return [f"{RESULTS}/tables/downstream.{ext}" for ext in ("csv", "md")] + [
        f"{RESULTS}/figures/downstream.{ext}" for ext in ("png", "pdf")
    ]


def downstream_run_methods():
    """The methods whose runs the listed detectors read (<method>.<signal>.<decision>)."""
    return sorted({d.split(".")[0] for d in DOWNSTREAM_DETECTORS if d.count(".") == 2})


def downstream_run_files(wc, kind):
    """The runs' signals.npz or mixture.npz that the listed detectors of this scenario read."""
    return [
        f"{RESULTS}/runs/{RUN_PATTERN}/{kind}".format(**wc, method=m)
        for m in downstream_run_methods()
    ]


def downstream_crossval_files(wc):
    paths = {
        "cleanlab_network": f"{CV_DIR}/cleanlab_network/detection.npz",
        "cleanlab_pixels": f"{CV_PIXELS_DIR}/cleanlab_pixels/detection.npz",
    }
    return {d: paths[d].format(**wc) for d in DOWNSTREAM_DETECTORS if d in paths}
