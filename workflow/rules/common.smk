# Shared set-up: config validation, the run grid, path helpers. Logic lives in src/alsofilter.
import os
import re
import sys

from snakemake.utils import validate

_SRC = os.path.join(workflow.basedir, "src")
# Make the package importable by the rules' scripts (pip path and conda envs alike).
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, _SRC)

from alsofilter.config import check_config, expand_runs, format_rate, training_settings  # noqa: E402

validate(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"))
check_config(config)

RESULTS = f"results/{config['experiment']}"
RUNS = expand_runs(config)
RUN_PATTERN = "{dataset}/{arch}/{method}/{noise}-{rate}-seed{seed}"
RUN_DIR = f"{RESULTS}/runs/{RUN_PATTERN}"
NOISE_PATTERN = f"{RESULTS}/noise/{{dataset}}/{{noise}}-{{rate}}-seed{{seed}}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


def _alternatives(values):
    return "|".join(re.escape(str(v)) for v in sorted(set(values)))


# Wildcards only ever match values of this config: no "..", no shell metacharacters.
wildcard_constraints:
    dataset=_alternatives(r.dataset for r in RUNS),
    arch=_alternatives(r.arch for r in RUNS),
    method=_alternatives(r.method for r in RUNS),
    noise=_alternatives(r.noise for r in RUNS),
    rate=_alternatives(r.rate_str for r in RUNS),
    seed=_alternatives(r.seed for r in RUNS),


def run_paths(filename):
    """The file ``filename`` of every run's folder, in grid order."""
    return [f"{RESULTS}/runs/" + RUN_PATTERN.format(**r.wildcards()) + f"/{filename}" for r in RUNS]


def run_keys():
    return [r.keys() for r in RUNS]


def run_from_wildcards(wc):
    for r in RUNS:
        if r.wildcards() == {k: wc[k] for k in ("dataset", "arch", "method", "noise", "rate", "seed")}:
            return r
    raise ValueError(f"no run in the config matches {dict(wc)}")


def uses_gpu():
    """1 when training runs on CUDA: device cuda*, or auto on a machine with an NVIDIA driver."""
    device = config.get("device", "auto")
    if device.startswith("cuda"):
        return 1
    if device == "auto":
        return int(os.path.exists("/proc/driver/nvidia/version"))
    return 0


def dataset_options(dataset):
    return (config.get("datasets", {}).get(dataset) or {}).get("options", {})


def summary_outputs():
    return [f"{RESULTS}/tables/{name}" for name in
            ("summary.csv", "summary_by_seed.csv", "summary_by_seed.md", "summary_by_seed.tex")]


FIGURES = ("auc_per_epoch", "bmm_fits", "memorization")


def figure_outputs():
    return [f"{RESULTS}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")]
