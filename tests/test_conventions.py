"""The layout's conventions (issue 17), checked on the tree as it is: rule files formatted with
snakefmt (as the Snakemake workflow catalog checks them), one stage module per rule file, thin
scripts that call a stage, no import circle in the package and no function-local import of it."""
from __future__ import annotations

import ast
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "alsofilter"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module_level: bool):
    nodes = tree.body if module_level else [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for node in nodes:
        for sub in ([node] if module_level else ast.walk(node)):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("alsofilter"):
                yield sub.module, [a.name for a in sub.names]
            elif isinstance(sub, ast.Import):
                for alias in sub.names:
                    if alias.name.startswith("alsofilter"):
                        yield alias.name, []


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for target, names in _imports(ast.parse(path.read_text()), module_level=True):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules:
                    deps.add(candidate)
                    break
        graph[name] = deps - {name}
    return graph


def test_snakefmt_formats_every_rule_file():
    snakefmt = shutil.which("snakefmt") or pytest.skip("snakefmt is not installed (pip install -e '.[test]')")
    result = subprocess.run([snakefmt, "--check", "--diff", "Snakefile", "workflow"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow`:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"


def test_no_import_circle_in_the_package():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


#: function-local imports of the package that are there for a reason other than a circle: the API
#: is loaded on first use (PEP 562), so that the Snakefile's imports stay free of torch
ALLOWED_LOCAL_IMPORTS = {("__init__.py", "alsofilter.api")}


def test_no_function_local_import_of_the_package():
    # lazy imports of heavy third-party libraries are fine; of the package itself they hide circles
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for target, _ in _imports(ast.parse(path.read_text()), module_level=False):
            if (path.relative_to(PACKAGE).as_posix(), target) not in ALLOWED_LOCAL_IMPORTS:
                offenders.append(f"{path.relative_to(REPO)}: {target}")
    assert not offenders, offenders


def test_every_rule_file_has_a_stage_module_and_thin_scripts():
    rules = {p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")} - {"common"}
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__"}
    assert rules <= stages, f"rule files without a stage module: {sorted(rules - stages)}"
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        for script in re.findall(r'"\.\./\.\./scripts/(\w+)\.py"', rule_file.read_text()):
            code = (REPO / "scripts" / f"{script}.py").read_text()
            calls = re.findall(r"^from alsofilter\.stages\.(\w+) import (rule_\w+)$", code, flags=re.M)
            assert calls and calls[0][0] == rule_file.stem, f"scripts/{script}.py must call alsofilter.stages.{rule_file.stem}"
            assert len([line for line in code.splitlines() if line and not line.startswith(('"""', "#"))]) <= 2


def test_the_snakefile_plans_without_torch():
    code = ("import sys; sys.path.insert(0, 'src'); import alsofilter.config, alsofilter.data.fingerprint; "
            "import alsofilter.config.settings; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
