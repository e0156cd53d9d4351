"""The SLURM profile, and the tiny pipeline run end to end through a real one-node SLURM cluster.

The profile checks at the top run everywhere, in about a minute: the paper config is dry-run under
the SLURM profile for each of the 16 combinations of its four knobs set or unset, and under the
local profile, all in one Snakemake process (importing Snakemake takes seconds; each dry run of
a few targets, under one). The cluster tests need root and
Debian's apt and run only with ``ALSOFILTER_SLURM_TEST=1``: ``.ci/slurm/setup.sh`` installs and
starts munged, slurmctld and slurmd (node ``localhost``, two fake GPUs), the tiny config runs once
locally and once with ``--profile profiles/slurm`` in two copies of the workflow, and
``.ci/slurm/teardown.sh`` stops the daemons by PID afterwards, pass or fail.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alsofilter.config import TRAINING_RULES
from conftest import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SLURM_PROFILE = ROOT / "profiles" / "slurm"
LOCAL_PROFILE = ROOT / "profiles" / "local"
TINY = "tests/configs/tiny.yaml"
PAPER = "config/paper.yaml"
KNOBS = ("ALSOFILTER_SLURM_PARTITION", "ALSOFILTER_SLURM_GPU_PARTITION", "ALSOFILTER_SLURM_ACCOUNT",
         "ALSOFILTER_GPU_MODEL")

#: what the local profile's GPU count reads (alsofilter.training.devices)
GPU_KNOBS = ("CUDA_VISIBLE_DEVICES", "ALSOFILTER_GPU_COUNT", "ALSOFILTER_JOBS_PER_GPU")

RUN_SLURM = os.environ.get("ALSOFILTER_SLURM_TEST") == "1"
# what setup.sh configures
PARTITION, GPU_TYPE = "ci", "testgpu"
# Plugin options for this test cluster only (not in the profile): there is no accounting
# database, so job states come from squeue; and a first status check after 1 s, not 40.
TEST_CLUSTER_ARGS = ["--slurm-status-command", "squeue",
                     "--slurm-init-seconds-before-status-checks", "1",
                     "--slurm-keep-successful-logs"]
#: the limit of each snakemake run of the cluster tests (seconds); more on a loaded machine
SNAKEMAKE_TIMEOUT_S = int(os.environ.get("ALSOFILTER_SLURM_TEST_TIMEOUT_S", "600"))


# ------------------------------------------------------------------------------------- profiles
def _profile(path: Path, monkeypatch, **env: str) -> dict:
    """The profile as Snakemake reads it (YTE-templated YAML), evaluated with the knobs in ``env``."""
    import yte

    for key in (*KNOBS, *GPU_KNOBS):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(path / "config.yaml") as fh:
        return yte.process_yaml(fh, require_use_yte=True)


def test_slurm_profile_resources(monkeypatch, dry_runs):
    prof = _profile(SLURM_PROFILE, monkeypatch)
    assert prof["executor"] == "slurm"
    assert isinstance(prof["jobs"], int) and prof["jobs"] >= 10
    defaults = prof["default-resources"]
    for key in ("runtime", "mem_mb", "cpus_per_task"):
        assert key in defaults, f"default-resources lacks {key}"
    assert defaults["gpu"] == 0, "CPU rules must ask for no GPU"
    # nothing site-specific is written into the profile
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    # with no knob set there is nothing to place: no set-resources at all (an empty entry per
    # rule would be an empty --set-resources, which Snakemake's parser rejects)
    assert "set-resources" not in prof
    # every rule that trains gets the same placement; the GPU count comes from the config (the
    # rules' training_resources), never from the profile or the login node
    prof = _profile(SLURM_PROFILE, monkeypatch, ALSOFILTER_SLURM_ACCOUNT="x", ALSOFILTER_GPU_MODEL="a100")
    answer, out = dry_runs(["--list-rules", "--configfile", TINY])
    assert answer["rc"] == 0, out[-3000:]
    workflow_rules = {line.split()[0] for line in out.splitlines() if line[:1].strip()}
    assert set(prof["set-resources"]) == set(TRAINING_RULES) <= workflow_rules, workflow_rules
    for rule, res in prof["set-resources"].items():
        assert res == {"gpu_model": "'a100'"}, (rule, res)


def test_slurm_profile_takes_partitions_account_and_gpu_model_from_the_environment(monkeypatch):
    prof = _profile(SLURM_PROFILE, monkeypatch, ALSOFILTER_SLURM_PARTITION="all",
                    ALSOFILTER_SLURM_ACCOUNT="0123", ALSOFILTER_GPU_MODEL="a100")
    # quoted, so that Snakemake's resource parser keeps them as strings ("all" is a builtin,
    # "0123" a number otherwise)
    assert prof["default-resources"]["slurm_partition"] == "'all'"
    assert prof["default-resources"]["slurm_account"] == "'0123'"
    for rule in TRAINING_RULES:
        assert prof["set-resources"][rule]["gpu_model"] == "'a100'"
        assert "slurm_partition" not in prof["set-resources"][rule]   # same partition as the rest
    prof = _profile(SLURM_PROFILE, monkeypatch, ALSOFILTER_SLURM_PARTITION="cpu",
                    ALSOFILTER_SLURM_GPU_PARTITION="gpu")
    assert prof["default-resources"]["slurm_partition"] == "'cpu'"
    assert all(prof["set-resources"][rule]["slurm_partition"] == "'gpu'" for rule in TRAINING_RULES)


# One Snakemake process answers every dry run of this module: it reads one JSON line per run
# (argv, environment, log file), runs the Snakemake command line in-process with its output (fds
# 1 and 2) going to the log, and answers a JSON line with the exit status. "parse": only
# Snakemake's argument parsing, profile included (where the SLURM profile used to fail).
DRY_RUN_SERVER = """
import json, os, sys, traceback
from snakemake.cli import main, parse_args
answers = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    run = json.loads(line)
    for key in run["unset"]:
        os.environ.pop(key, None)
    os.environ.update(run["env"])
    with open(run["log"], "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        answer = {}
        try:
            if run["parse"]:
                _, args = parse_args(run["argv"])
                answer["set_resources"] = sorted(map(str, args.set_resources or []))
                answer["software_deployment_method"] = sorted(map(str, args.software_deployment_method or []))
                answer["use_conda"] = bool(getattr(args, "use_conda", False))
            else:
                main(run["argv"])
            answer["rc"] = 0
        except SystemExit as stop:
            answer["rc"] = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except Exception:
            traceback.print_exc()
            answer["rc"] = "exception"
        sys.stdout.flush()
        sys.stderr.flush()
    print(json.dumps(answer), file=answers, flush=True)
"""


class DryRuns:
    """Snakemake command lines run in one long-lived process (:data:`DRY_RUN_SERVER`), in ``ROOT``."""

    def __init__(self, logs: Path):
        self.logs, self.count = logs, 0
        env = {k: v for k, v in os.environ.items() if k not in (*KNOBS, *GPU_KNOBS, "SLURM_JOB_ID")}
        self.proc = subprocess.Popen([sys.executable, "-c", DRY_RUN_SERVER], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __call__(self, argv: list[str], env: dict[str, str] | None = None, parse: bool = False) -> tuple[dict, str]:
        """(answer, output) of ``snakemake ARGV`` with the knobs in ``env`` set and the others unset."""
        self.count += 1
        log = self.logs / f"run{self.count}.log"
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env or {}, "unset": [*KNOBS, *GPU_KNOBS],
                                          "log": str(log), "parse": parse}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the dry-run process died; its last log:\n{log.read_text()[-5000:] if log.exists() else ''}"
        return json.loads(line), log.read_text()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    runs = DryRuns(tmp_path_factory.mktemp("dry_runs"))
    yield runs
    runs.close()


def planned_jobs(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run prints (``rule NAME:`` blocks; ``resources: k=v, ...``)."""
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", out, flags=re.M | re.S):
        found = re.search(r"^\s+resources: (.*)$", body, flags=re.M)
        resources = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        jobs.append((rule, resources))
    return jobs


def first_outputs(out: str) -> dict[str, str]:
    """Per training rule, the first output file of its first job in a dry run's plan."""
    targets = {}
    for rule, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", out, flags=re.M | re.S):
        if rule in TRAINING_RULES and rule not in targets:
            targets[rule] = re.search(r"^\s+output: ([^,\s]+)", body, flags=re.M).group(1)
    return targets


#: the knob values of the dry runs: a numeric account, kept a string by the profile's quoting
KNOB_DRY_VALUES = {"ALSOFILTER_SLURM_PARTITION": "cpu", "ALSOFILTER_SLURM_GPU_PARTITION": "gpu",
                   "ALSOFILTER_SLURM_ACCOUNT": "0123", "ALSOFILTER_GPU_MODEL": "a100"}
KNOB_COMBINATIONS = [dict(zip(KNOBS, chosen)) for chosen in itertools.product((False, True), repeat=len(KNOBS))]


def expected_placement(rule: str, knobs: dict[str, bool], gpus: int = 1) -> dict[str, str | None]:
    """What the SLURM profile must give a job of ``rule`` with ``knobs`` set: None = absent (the
    cluster's default partition and account, any GPU model)."""
    value = {k: KNOB_DRY_VALUES[k] if on else None for k, on in knobs.items()}
    training = rule in TRAINING_RULES
    partition = value["ALSOFILTER_SLURM_PARTITION"]
    if training and value["ALSOFILTER_SLURM_GPU_PARTITION"]:
        partition = value["ALSOFILTER_SLURM_GPU_PARTITION"]
    return {"gpu": str(gpus if training else 0), "slurm_partition": partition,
            "slurm_account": value["ALSOFILTER_SLURM_ACCOUNT"],
            "gpu_model": value["ALSOFILTER_GPU_MODEL"] if training else None}


def check_placement(jobs, knobs: dict[str, bool], gpus: int = 1) -> None:
    assert {rule for rule, _ in jobs} >= set(TRAINING_RULES), sorted({rule for rule, _ in jobs})
    for rule, resources in jobs:
        if rule == "all":
            continue
        for key, want in expected_placement(rule, knobs, gpus).items():
            assert resources.get(key) == want, (rule, key, resources, knobs)


def _driverless():
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("a GPU driver is here: this checks the plan made without one (a login node)")


@pytest.fixture(scope="module")
def paper_plan(dry_runs):
    """The new user's first command: the paper config's whole plan under the SLURM profile with
    no knob set (``--config experiment=...``: a folder of its own, so existing results change
    nothing)."""
    return dry_runs(["-n", "--profile", str(SLURM_PROFILE), "--configfile", PAPER,
                     "--config", f"experiment=dryrun_{os.getpid()}"])


def test_paper_plan_under_the_slurm_profile_with_nothing_set(paper_plan):
    """Every training job (train, crossval_fold, retrain) gets one GPU of any model in the cluster's
    default partition; every other job no GPU; nothing names a partition or an account."""
    _driverless()
    answer, out = paper_plan
    assert answer["rc"] == 0, out[-5000:]
    import yaml

    from alsofilter.config import expand_runs, validate

    jobs = planned_jobs(out)
    counts = {rule: sum(r == rule for r, _ in jobs) for rule in TRAINING_RULES}
    grid = expand_runs(validate(yaml.safe_load((ROOT / PAPER).read_text())))
    assert counts["train"] == len(grid) > 1 and counts["crossval_fold"] > 1 and counts["retrain"] > 1, counts
    check_placement(jobs, dict.fromkeys(KNOBS, False))


@pytest.mark.parametrize("knobs", KNOB_COMBINATIONS,
                         ids=["+".join(k.split("_", 2)[-1].lower() for k, on in c.items() if on) or "none"
                              for c in KNOB_COMBINATIONS])
def test_paper_config_under_the_slurm_profile_with_any_knobs(knobs, paper_plan, dry_runs):
    """Each of the 16 combinations of the four knobs set or unset plans a job of each training
    rule of the paper config (and what it needs), each training job with one GPU, its partition and
    model where set, and the cluster's default otherwise; the command line also parses with
    ``--sdm conda`` (a dry run with it needs conda itself: done where conda is installed)."""
    _driverless()
    targets = list(first_outputs(paper_plan[1]).values())
    assert len(targets) == len(TRAINING_RULES), targets
    env = {k: KNOB_DRY_VALUES[k] for k, on in knobs.items() if on}
    common = ["--profile", str(SLURM_PROFILE), "--configfile", PAPER, "--config", f"experiment=dryrun_{os.getpid()}"]
    answer, out = dry_runs(["-n", *targets, *common], env)
    assert answer["rc"] == 0, out[-5000:]
    check_placement(planned_jobs(out), knobs)
    answer, out = dry_runs(["-n", *targets, *common, "--sdm", "conda"], env, parse=True)
    assert answer["rc"] == 0 and answer["software_deployment_method"] == ["conda"], out[-5000:]
    assert bool(answer["set_resources"]) == (knobs["ALSOFILTER_SLURM_GPU_PARTITION"] or knobs["ALSOFILTER_GPU_MODEL"])
    if shutil.which("conda"):
        answer, out = dry_runs(["-n", *targets, *common, "--sdm", "conda"], env)
        assert answer["rc"] == 0, out[-5000:]
        check_placement(planned_jobs(out), knobs)


@pytest.mark.parametrize("device", ["auto", "cuda", "cpu"])
def test_slurm_profile_plans_gpus_from_the_config_device(device, paper_plan, dry_runs):
    """With device auto or cuda every training job gets gpu=1, with device cpu none does, decided
    from the config on this driverless machine (as on a login node)."""
    _driverless()
    targets = list(first_outputs(paper_plan[1]).values())
    answer, out = dry_runs(["-n", *targets, "--profile", str(SLURM_PROFILE), "--configfile", PAPER,
                            "--config", f"experiment=dryrun_{os.getpid()}", f"device={device}"],
                           {"ALSOFILTER_SLURM_GPU_PARTITION": "gpu", "ALSOFILTER_GPU_MODEL": "a100"})
    assert answer["rc"] == 0, out[-5000:]
    knobs = {k: k in ("ALSOFILTER_SLURM_GPU_PARTITION", "ALSOFILTER_GPU_MODEL") for k in KNOBS}
    check_placement(planned_jobs(out), knobs, gpus=0 if device == "cpu" else 1)


@pytest.mark.parametrize("pretend, conda", [("0", None), ("2", None), ("2", "--sdm conda"), ("2", "--use-conda")])
def test_paper_config_under_the_local_profile(pretend, conda, paper_plan, dry_runs):
    """The local profile plans the same jobs: with pretend GPUs (ALSOFILTER_GPU_COUNT) each training
    job holds one GPU slot; without a GPU the slots are 0 and the jobs run anyway (Snakemake caps
    a job's gpu at the declared total; device auto trains on the CPU). With conda (``--sdm conda``,
    or the older ``--use-conda``) the command line parses; a dry run needs conda itself: done
    where it is installed."""
    targets = list(first_outputs(paper_plan[1]).values())
    argv = ["-n", *targets, "--profile", str(LOCAL_PROFILE), "--configfile", PAPER,
            "--config", f"experiment=dryrun_{os.getpid()}", *(conda.split() if conda else [])]
    env = {"ALSOFILTER_GPU_COUNT": pretend}
    if conda:
        answer, out = dry_runs(argv, env, parse=True)
        assert answer["rc"] == 0, out[-5000:]
        assert answer["software_deployment_method"] == ["conda"] or answer["use_conda"], answer
        if not shutil.which("conda"):
            return
    answer, out = dry_runs(argv, env)
    assert answer["rc"] == 0, out[-5000:]
    jobs = planned_jobs(out)
    assert {rule for rule, _ in jobs} >= set(TRAINING_RULES)
    for rule, resources in jobs:
        if rule != "all":
            assert resources.get("gpu", "0") == ("1" if rule in TRAINING_RULES and pretend != "0" else "0"), (rule, resources)
            assert "slurm_partition" not in resources and "gpu_model" not in resources


@pytest.mark.parametrize("count, visible, per_gpu, expected", [
    (4, None, "1", 4), (1, "0", "1", 1), (3, "0,1,3", "1", 3), (3, "0,1,3", "2", 6), (4, "", "1", 0),
    (4, "-1", "1", 0), (4, "1,-1,2", "1", 1), (0, "0,1", "1", 0)])
def test_local_profile_counts_the_gpus_cuda_shows(count, visible, per_gpu, expected, monkeypatch):
    """The GPU slots: a pretend driver answer (ALSOFILTER_GPU_COUNT) seen through
    CUDA_VISIBLE_DEVICES (up to its first invalid entry), times the jobs per GPU."""
    knobs = dict(ALSOFILTER_GPU_COUNT=str(count), ALSOFILTER_JOBS_PER_GPU=per_gpu)
    if visible is not None:
        knobs["CUDA_VISIBLE_DEVICES"] = visible
    prof = _profile(LOCAL_PROFILE, monkeypatch, **knobs)
    assert prof["resources"]["gpu"] == expected
    assert prof["cores"] == "all"


def test_local_profile_without_a_gpu_driver_counts_none(monkeypatch):
    """Here (no CUDA driver) the driver query finds no GPU, whatever CUDA_VISIBLE_DEVICES lists:
    CUDA could not use one."""
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("a GPU driver is here")
    for visible in (None, "0,1"):
        prof = _profile(LOCAL_PROFILE, monkeypatch, **({} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}))
        assert prof["resources"]["gpu"] == 0, visible


def test_local_profile_runs_one_gpu_job_at_a_time(tmp_path):
    """With one visible GPU, two GPU jobs never overlap although two cores are free."""
    (tmp_path / "Snakefile").write_text(textwrap.dedent("""
        rule all:
            input: "a.txt", "b.txt"
        rule gpu_job:
            output: "{name}.txt"
            resources: gpu=1
            shell: "date +%s.%N > {output}; sleep 1; date +%s.%N >> {output}"
    """))
    env = {k: v for k, v in os.environ.items() if k not in GPU_KNOBS}
    env["ALSOFILTER_GPU_COUNT"] = "1"   # one pretend GPU
    res = subprocess.run([sys.executable, "-m", "snakemake", "--profile", str(LOCAL_PROFILE),
                          "--workflow-profile", "none"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    (a0, a1), (b0, b1) = ([float(x) for x in (tmp_path / f).read_text().split()] for f in ("a.txt", "b.txt"))
    assert a1 <= b0 or b1 <= a0, "two GPU jobs ran at once on one GPU"


# ------------------------------------------------------------------------------------- cluster
_skip_without_cluster = pytest.mark.skipif(not RUN_SLURM, reason="set ALSOFILTER_SLURM_TEST=1 (root, apt) "
                                                                 "to run the pipeline on a local SLURM cluster")
#: the first cluster test sets up the module's fixture: the tiny pipeline locally, then through
#: SLURM (each snakemake call limited to SNAKEMAKE_TIMEOUT_S), so its limit covers both runs
CLUSTER_TEST_TIMEOUT_S = 2 * SNAKEMAKE_TIMEOUT_S + 300


def cluster_only(test):
    return pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S)(_skip_without_cluster(test))

def _snakemake(workdir: Path, args: list[str], log: Path, env: dict | None = None,
               timeout: int = SNAKEMAKE_TIMEOUT_S) -> tuple[int, str]:
    """Run snakemake in ``workdir`` in a process group of its own; returns (exit status, output)."""
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)   # the group this test started: snakemake, its children
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            pytest.fail(f"snakemake {' '.join(args)} did not finish in {timeout}s; last output:\n"
                        + log.read_text()[-5000:])
    return rc, log.read_text()


def _slurm_env(**knobs: str) -> dict[str, str]:
    """This environment without any of the profile's knobs, then ``knobs`` (none: the user who
    sets nothing, whose jobs go to the cluster's default partition with any GPU model)."""
    env = {k: v for k, v in os.environ.items() if k not in KNOBS and k != "SLURM_CONF"}
    env.update(knobs)
    return env


#: the knobs of the one-job run that checks they reach sbatch (the account is left out: without
#: an accounting database the plugin cannot validate one)
KNOB_VALUES = dict(ALSOFILTER_SLURM_PARTITION=PARTITION, ALSOFILTER_SLURM_GPU_PARTITION=PARTITION,
                   ALSOFILTER_GPU_MODEL=GPU_TYPE)


def _job_states(ids) -> dict[str, dict[str, str]]:
    """Per SLURM job id: state, partition and GPUs asked for, from slurmctld (there is no
    accounting database here; setup.sh keeps finished jobs in slurmctld for an hour)."""
    out = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True, text=True,
                         check=True).stdout
    states = {}
    for line in out.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if fields.get("JobId") in ids:
            states[fields["JobId"]] = {"state": fields.get("JobState"), "partition": fields.get("Partition"),
                                       "tres": fields.get("TresPerJob", "")}
    return states


SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


@pytest.fixture(scope="module")
def cluster():
    if not RUN_SLURM:
        pytest.skip("ALSOFILTER_SLURM_TEST is not 1")
    if os.geteuid() != 0:
        pytest.fail("ALSOFILTER_SLURM_TEST=1 needs root (installs Debian's SLURM, starts its daemons)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.fail("snakemake-executor-plugin-slurm is not installed (pip install -e .[pipeline])")
    try:
        setup = subprocess.run(["bash", str(ROOT / ".ci/slurm/setup.sh")], capture_output=True,
                               text=True, timeout=600)
        if setup.returncode != 0:
            pytest.fail(f".ci/slurm/setup.sh failed:\n{setup.stdout}\n{setup.stderr}")
        yield
    finally:
        subprocess.run(["bash", str(ROOT / ".ci/slurm/teardown.sh")], timeout=120)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The tiny config run locally, then on SLURM with none of the profile's knobs set (a new
    user's first command), in two copies of the workflow made at once. One after the other: the
    SLURM run notices finished jobs only at its status checks, so sharing the two cores with the
    local run would make it much slower."""
    base = tmp_path_factory.mktemp("slurm_e2e")
    local, cluster_dir = copy_workflow(base / "local"), copy_workflow(base / "slurm")
    t0 = time.monotonic()
    rc, out = _snakemake(local, ["--cores", "2", "--configfile", TINY, "--workflow-profile", "none"],
                         base / "local.log")
    assert rc == 0, "local run failed:\n" + out[-5000:]
    t1 = time.monotonic()
    # device auto: the training jobs ask SLURM for a (fake) GPU and train on the CPU
    rc, out = _snakemake(cluster_dir, ["--profile", "profiles/slurm", "--configfile", TINY,
                                       "--workflow-profile", "none", *TEST_CLUSTER_ARGS,
                                       "--config", "device=auto"],
                         base / "slurm.log", env=_slurm_env())
    print(f"local run {t1 - t0:.0f}s, SLURM run {time.monotonic() - t1:.0f}s")
    assert rc == 0, "SLURM run failed:\n" + out[-8000:]
    return {"local": local, "slurm": cluster_dir, "out": out, "log": base / "slurm.log"}


def _job_counts(out: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints at the start: jobs per rule, and 'total'."""
    stats = out[out.index("Job stats:"):]
    table = stats[:stats.index("\n\n")]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@cluster_only
def test_every_job_is_submitted_with_sbatch_and_completes(runs):
    out = runs["out"]
    submitted = SUBMITTED.findall(out)
    counts = _job_counts(out)
    expected = sum(n for rule, n in counts.items() if rule not in ("all", "total"))
    assert expected >= 20 and counts.get("total") == expected + 1, counts   # + the local rule all
    assert len(submitted) == expected, f"{len(submitted)} of {expected} jobs went through sbatch"
    for rule, n in counts.items():
        if rule not in ("all", "total"):
            assert sum(f"/rule_{rule}/" in log for _, _, log in submitted) == n, rule
    states = _job_states([jid for _, jid, _ in submitted])
    assert {jid for _, jid, _ in submitted} == set(states)
    assert {s["state"] for s in states.values()} == {"COMPLETED"}, states
    assert "localrule all" in out


@cluster_only
def test_training_jobs_get_their_gpu_and_cpu_jobs_none(runs):
    out, slurm = runs["out"], runs["slurm"]
    submitted = SUBMITTED.findall(out)
    states = _job_states([jid for _, jid, _ in submitted])
    train_ids = {jid for _, jid, log in submitted if any(f"/rule_{r}/" in log for r in TRAINING_RULES)}
    counts = _job_counts(out)
    assert len(train_ids) == sum(counts.get(r, 0) for r in TRAINING_RULES) > counts["train"] > 1
    for jid, st in states.items():
        if jid in train_ids:   # sbatch --gpus=1: device auto's GPU, of any model (no knob set)
            assert re.fullmatch(r"gres[:/]gpu:1", st["tres"]), st
        else:
            assert "gpu" not in st["tres"], (jid, st)
        assert st["partition"] == PARTITION, st   # no knob: the cluster's default partition
    # inside each training job: the GPU SLURM granted it (the line train_job.py logs at start)
    logs = sorted(log for rule in TRAINING_RULES for log in (slurm / "results/tiny/logs" / rule).rglob("*.log"))
    assert len(logs) == len(train_ids)
    seen_ids = set()
    for log in logs:
        line = next((ln for ln in log.read_text().splitlines() if "environment:" in ln), None)
        assert line is not None, f"{log} has no 'environment:' line"
        env = dict(tok.split("=", 1) for tok in line.split("environment:", 1)[1].split())
        assert re.fullmatch(r"\d+", env.get("CUDA_VISIBLE_DEVICES", "")), (log, line)
        assert env.get("SLURM_GPUS_ON_NODE", "1") == "1", (log, line)
        seen_ids.add(env.get("SLURM_JOB_ID"))
    assert seen_ids == train_ids, "each training log should name its own SLURM job"
    planned = re.findall(r"^\s+resources: (.*)$", out, flags=re.M)
    assert planned and not any("slurm_partition" in r or "gpu_model" in r for r in planned), planned[:3]


def _copy_inputs(slurm: Path, experiment: str) -> None:
    """The prepared dataset and the noisy labels of the finished run, copied (times kept) to
    ``experiment``, so that a training target is the only job left."""
    for stage in ("data", "noise"):   # data first: the noise files must stay the newer ones
        shutil.copytree(slurm / "results/tiny" / stage, slurm / f"results/{experiment}" / stage)


@cluster_only
def test_the_knobs_reach_sbatch(runs):
    """One training job with the partition, GPU partition and GPU model knobs set: sbatch puts it
    in that partition with --gpus=MODEL:1, and it completes."""
    slurm = runs["slurm"]
    _copy_inputs(slurm, "tiny_knobs")
    target = "results/tiny_knobs/runs/digits/resnet18/adamw/symmetric-0.4-seed3/signals.npz"
    rc, out = _snakemake(slurm, ["--profile", "profiles/slurm", "--configfile", TINY,
                                 "--workflow-profile", "none", *TEST_CLUSTER_ARGS,
                                 "--config", "experiment=tiny_knobs", "device=auto", "--", target],
                         runs["log"].with_name("slurm_knobs.log"), env=_slurm_env(**KNOB_VALUES))
    assert rc == 0, out[-5000:]
    submitted = SUBMITTED.findall(out)
    assert len(submitted) == 1 and "/rule_train/" in submitted[0][2], out[-5000:]
    state = _job_states([submitted[0][1]])[submitted[0][1]]
    assert state["state"] == "COMPLETED" and state["partition"] == PARTITION, state
    assert re.fullmatch(rf"gres[:/]gpu:{GPU_TYPE}:1", state["tres"]), state
    assert f"slurm_partition={PARTITION}" in out and f"gpu_model={GPU_TYPE}" in out


def _frame(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    return df.drop(columns=[c for c in df.columns if c == "seconds" or c.endswith("_seconds")])


@cluster_only
def test_outputs_equal_a_local_run(runs):
    local, slurm = runs["local"] / "results/tiny", runs["slurm"] / "results/tiny"

    def files(root, pattern):
        return sorted(p.relative_to(root) for p in root.glob(pattern))

    for pattern in ("noise/**/*.csv", "noise/**/*.json", "runs/**/*.npz", "runs/**/*.csv",
                    "tables/*", "figures/*"):
        assert files(local, pattern) == files(slurm, pattern), pattern
    noise = files(local, "noise/**/*.csv")
    assert len(noise) == 2 and len(files(local, "runs/**/signals.npz")) == 6
    for rel in noise:   # noisy labels: byte for byte
        assert (local / rel).read_bytes() == (slurm / rel).read_bytes(), rel
    for rel in files(local, "noise/**/*.json"):
        assert json.loads((local / rel).read_text()) == json.loads((slurm / rel).read_text()), rel
    for rel in files(local, "runs/**/*.npz"):   # signals and mixtures: every array equal
        with np.load(local / rel) as a, np.load(slurm / rel) as b:
            assert sorted(a.files) == sorted(b.files), rel
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{rel}:{key}")
    csvs = files(local, "runs/**/*.csv") + [p for p in files(local, "tables/*") if p.suffix == ".csv"]
    assert any(p.name == "summary.csv" for p in csvs)
    for rel in csvs:   # metrics, history, summary tables: equal except timings
        pd.testing.assert_frame_equal(_frame(local / rel), _frame(slurm / rel), check_exact=False,
                                      rtol=1e-9, atol=0, obj=str(rel))


@cluster_only
def test_failed_job_fails_the_run_and_names_its_logs(runs):
    """device=mps passes config validation but fails inside the training job (no MPS on Linux).
    The prepared dataset and the noisy labels are copied over from the finished run (times kept),
    so the training job is the only one."""
    slurm = runs["slurm"]
    _copy_inputs(slurm, "tiny_fail")
    target = "results/tiny_fail/runs/digits/resnet18/adamw/symmetric-0.4-seed3/signals.npz"
    rc, out = _snakemake(slurm, ["--profile", "profiles/slurm", "--configfile", TINY,
                                 "--workflow-profile", "none", *TEST_CLUSTER_ARGS,
                                 "--config", "experiment=tiny_fail", "device=mps", "--", target],
                         runs["log"].with_name("slurm_fail.log"), env=_slurm_env(**KNOB_VALUES))
    assert rc != 0, out[-5000:]
    submitted = SUBMITTED.findall(out)
    assert len(submitted) == 1 and "/rule_train/" in submitted[0][2], \
        "the training job alone should have been submitted with sbatch:\n" + out[-5000:]
    _, jid, slurm_log = submitted[0]
    state = _job_states([jid])[jid]
    print("the failed job (device mps: no GPU asked for, the model knob set):", state)
    assert state["state"] == "FAILED" and not re.search(r"gpu(:\w+)?:[1-9]", state["tres"]), state
    error = out[out.index("Error in rule train:"):]
    rule_log = "results/tiny_fail/logs/train/digits/resnet18/adamw/symmetric-0.4-seed3.log"
    assert rule_log in error and slurm_log in error, error
    assert "check log file(s) for error details" in error
    assert "mps" in Path(slurm_log).read_text().lower()   # the job's own traceback is in its log
    assert "Exiting because a job execution failed" in out
