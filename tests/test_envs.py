"""The conda environments in envs/ agree with pyproject.toml, and every rule names one.

Conda cannot be installed on the test machines, so ``--use-conda`` is not run here. Instead:
the env files pin channels and versions; every package in them is a dependency declared in
pyproject.toml (under its conda name) whose pinned version lies in pyproject's range, and every
declared dependency is in some env, so the pip and conda install paths cannot drift apart; each
stage's scripts run with the declared dependencies that their env lacks made unimportable; every rule that runs code names an env that
exists; and ``snakemake --lint`` is clean.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
CHANNELS = ["conda-forge", "nodefaults"]
# PyPI name -> conda-forge name where they differ (the -base variants leave out the GUI / extra deps)
PYPI_TO_CONDA = {"torch": "pytorch", "matplotlib": "matplotlib-base", "seaborn": "seaborn-base"}
# conda-only entries: the interpreter, and the metapackage that selects the CUDA build of pytorch
CONDA_ONLY = {"python", "pytorch-gpu"}
SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<op>==?)\s*(?P<version>[0-9][0-9A-Za-z.+!_]*)(?:=(?P<build>\S+))?$")


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def _declared() -> dict[str, SpecifierSet]:
    """The package's runtime dependencies, by conda name, with their version ranges."""
    deps = {}
    for line in _pyproject()["dependencies"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        deps[PYPI_TO_CONDA.get(name, name)] = req.specifier
    return deps


def _env(path: Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _pins(path: Path) -> dict[str, str]:
    """``name: version`` of an env file; fails on anything that is not an exact pin."""
    pins = {}
    for dep in _env(path)["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: {dep!r}: no pip section, conda packages only"
        m = SPEC.match(dep.strip())
        assert m and "*" not in m["version"], f"{path.name}: {dep!r} is not pinned as name=version"
        pins[canonicalize_name(m["name"])] = m["version"]
    return pins


def test_there_is_one_env_per_stage():
    assert {p.name for p in ENVS} == {"train.yaml", "analysis.yaml"}
    assert "pytorch" in _pins(ROOT / "envs/train.yaml"), "training needs PyTorch"
    assert "pytorch-gpu" in _pins(ROOT / "envs/train.yaml"), "training needs the CUDA build"
    analysis = _pins(ROOT / "envs/analysis.yaml")
    assert {"scipy", "scikit-learn", "pandas", "seaborn-base"} <= set(analysis)
    assert "pytorch" not in analysis, "the analysis env should not carry PyTorch"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_channels_and_versions(env):
    spec = _env(env)
    assert spec["channels"] == CHANNELS, f"{env.name}: channels must be exactly {CHANNELS}, in that order"
    pins = _pins(env)
    assert len(pins) == len(spec["dependencies"]), f"{env.name} lists a package twice"
    python = Version(pins["python"])
    assert len(python.release) >= 2, f"{env.name}: pin python to a minor version at least"
    assert python in SpecifierSet(_pyproject()["requires-python"]), \
        f"{env.name}: python={python} is outside requires-python {_pyproject()['requires-python']}"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_packages_are_declared_dependencies_in_range(env):
    declared = _declared()
    for name, version in _pins(env).items():
        if name in CONDA_ONLY:
            continue
        assert name in declared, (f"{env.name}: {name} is not a dependency in pyproject.toml; add it "
                                  "there too, or the pip install lacks it")
        assert Version(version) in declared[name], \
            f"{env.name}: {name}={version} is outside pyproject.toml's range {declared[name]}"


def test_every_declared_dependency_is_in_an_env_at_one_version():
    versions: dict[str, dict[str, str]] = {}
    for env in ENVS:
        for name, version in _pins(env).items():
            versions.setdefault(name, {})[env.name] = version
    missing = set(_declared()) - set(versions)
    assert not missing, f"pyproject.toml dependencies in no env of envs/: {sorted(missing)}"
    for name, per_env in versions.items():
        assert len(set(per_env.values())) == 1, f"{name} is pinned differently: {per_env}"
    train = _pins(ROOT / "envs/train.yaml")
    assert train["pytorch-gpu"] == train["pytorch"]


# ------------------------------------------------------------------------------ rules and stages
def _rules() -> dict[str, dict[str, str | None]]:
    """Per rule of workflow/rules/*.smk: its conda env and script (paths as written) and whether
    it runs anything (script, shell, run, wrapper, notebook)."""
    rules = {}
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", text, re.M | re.S):
            body = m.group(2)

            def directive(name):
                d = re.search(rf"^\s+{name}:\s*\n?\s*[\"'](.+?)[\"']", body, re.M)
                return d.group(1) if d else None

            rules[m.group(1)] = {
                "file": smk, "conda": directive("conda"), "script": directive("script"),
                "runs": bool(re.search(r"^\s+(script|shell|run|wrapper|notebook):", body, re.M)),
            }
    return rules


def test_every_rule_that_runs_code_has_a_conda_env():
    rules = _rules()
    assert "train" in rules and len(rules) >= 5
    for name, rule in rules.items():
        if not rule["runs"]:
            continue
        assert rule["conda"], f"rule {name} ({rule['file'].name}) has no conda: directive"
        env = (rule["file"].parent / rule["conda"]).resolve()
        assert env in [p.resolve() for p in ENVS], f"rule {name}: conda env {rule['conda']} is not in envs/"
    assert rules["train"]["conda"].endswith("envs/train.yaml")


SITECUSTOMIZE = """
# Loaded by every Python process of the test run. In a rule's script (Snakemake runs it as
# .snakemake/scripts/tmpXXXX.<script name>) it makes the declared dependencies that the rule's
# conda env lacks unimportable, as they would be inside that env.
import importlib.abc, importlib.machinery, json, os, sys
_blocks = json.loads(os.environ["ALSOFILTER_ENV_BLOCKS"])
_script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
_name = next((n for n in _blocks if _script.endswith("." + n) or _script == n), None)
if _name is not None:
    _blocked = set(_blocks[_name]["blocked"])
    _blocked_dists = set(_blocks[_name]["dists"])

    class _Hide(importlib.abc.MetaPathFinder):
        # wraps a finder so that it does not see the blocked packages, as if not installed

        def __init__(self, inner):
            self.inner = inner

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in _blocked:
                return None
            return self.inner.find_spec(name, path, target)

        def find_distributions(self, *args, **kwargs):   # importlib.metadata's view
            found = getattr(self.inner, "find_distributions", lambda *a, **k: ())(*args, **kwargs)
            return (d for d in found
                    if (d.metadata["Name"] or "").lower().replace("_", "-") not in _blocked_dists)

        def invalidate_caches(self):
            getattr(self.inner, "invalidate_caches", lambda: None)()

    sys.meta_path[:] = [f if f in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
                        else _Hide(f) for f in sys.meta_path]
    with open(os.environ["ALSOFILTER_ENV_TRACE"], "a") as _fh:
        _fh.write(_name + "\\n")
"""


def _blocked(env: Path) -> tuple[list[str], list[str]]:
    """The declared dependencies that ``env`` lacks: their distributions and top-level modules."""
    absent = {name for name in _declared() if name not in _pins(env)}
    conda_to_pypi = {v: k for k, v in PYPI_TO_CONDA.items()}
    dists = {canonicalize_name(conda_to_pypi.get(name, name)) for name in absent}
    modules = {mod for mod, owners in importlib.metadata.packages_distributions().items()
               if mod.isidentifier() and any(canonicalize_name(o) in dists for o in owners)}
    return sorted(dists), sorted(modules)


#: scripts of rules the tiny pipeline does not plan -> their stage module
NOT_IN_TINY = {"ladder.py": "ladder"}


@pytest.mark.slow
def test_each_stage_runs_with_only_its_env_packages(tmp_path):
    """The tiny pipeline, each rule's script unable to import the declared dependencies missing
    from its conda env (torch in the analysis rules; matplotlib, seaborn, tabulate in training)."""
    blocks = {}
    for rule in _rules().values():
        if rule["script"] and rule["conda"]:
            env = (rule["file"].parent / rule["conda"]).resolve()
            dists, modules = _blocked(env)
            blocks[Path(rule["script"]).name] = {"env": env.name, "blocked": modules, "dists": dists}
    assert blocks["train.py"]["blocked"] and "torch" in blocks["figures.py"]["blocked"]
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    work = tmp_path / "wf"
    copy_workflow(work)
    trace = tmp_path / "trace.txt"
    env = dict(os.environ, ALSOFILTER_ENV_BLOCKS=json.dumps(blocks), ALSOFILTER_ENV_TRACE=str(trace),
               PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    res = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                          "tests/configs/tiny.yaml", "--workflow-profile", "none"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        logs = "".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in (work / "results").rglob("*.log")
                       if "Error" in p.read_text())
        pytest.fail(f"a stage needs a package its env lacks:\n{res.stderr[-4000:]}\n{logs}")
    ran = set(trace.read_text().split())
    # rules the tiny config does not plan (rule ladder needs ladder: true): their stage module is
    # imported with the env's missing packages blocked instead (the scripts only call into it)
    others = set(NOT_IN_TINY) & set(blocks)
    assert ran == set(blocks) - others, f"scripts not run under their env's blocks: {set(blocks) - others - ran}"
    for script in others:
        blocked = sorted(blocks[script]["blocked"])
        code = ("import importlib.abc, sys\n"
                f"BLOCKED = {blocked!r}\n"
                "class Block(importlib.abc.MetaPathFinder):\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name.split('.')[0] in BLOCKED:\n"
                "            raise ImportError(f'{name} is not in this env')\n"
                "sys.meta_path.insert(0, Block())\n"
                f"import alsofilter.stages.{NOT_IN_TINY[script]}\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                                       os.environ.get("PYTHONPATH")]))))
        assert res.returncode == 0, f"{script} ({blocks[script]['env']}) needs a blocked package: {res.stderr[-2000:]}"


def test_snakemake_lint_is_clean():
    res = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile",
                          "tests/configs/tiny.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
