"""End to end: the real snakemake on the tiny config, in a temporary working directory."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def snakemake(workdir, *args, check=True):
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2", "--configfile", str(TINY))
    return workdir


def test_every_output_is_produced(tiny_run):
    results = tiny_run / "results" / "tiny"
    proc = snakemake(tiny_run, "--cores", "1", "--configfile", str(TINY), "--list-target-rules")
    assert "all" in proc.stdout
    for name in ("summary.csv", "summary_by_seed.csv", "summary_by_seed.md", "summary_by_seed.tex"):
        assert (results / "tables" / name).stat().st_size > 0, name
    for name in ("auc_per_epoch", "bmm_fits", "memorization"):
        for ext in ("png", "pdf"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 1000
    runs = sorted((results / "runs").glob("digits/resnet18/*/*"))
    assert len(runs) == 6            # 2 scenarios x 3 methods x 1 seed
    for run in runs:
        for name in ("signals.npz", "history.csv", "provenance.json", "mixture.npz", "metrics.csv"):
            assert (run / name).exists(), run / name
    assert len(list((results / "noise" / "digits").glob("*.csv"))) == 2
    assert len(list((results / "logs" / "train").rglob("*.log"))) == 6
    assert len(list((results / "benchmarks" / "train").rglob("*.tsv"))) == 6
    assert not list(results.rglob("*.tmp-*"))
    assert not (results / "checkpoints").exists() or not list((results / "checkpoints").rglob("*.pt"))


def test_summary_has_finite_aucs(tiny_run):
    summary = pd.read_csv(tiny_run / "results" / "tiny" / "tables" / "summary.csv")
    required = ["dataset", "arch", "method", "signal", "noise", "rate", "seed", "auc_final", "auc_best",
                "epoch_best", "ap_final", "f1_final", "noise_rate_true", "noise_rate_est"]
    assert set(required) <= set(summary.columns)
    # adamw: loss; also-*: loss and weight -> 2 scenarios x (1 + 2 + 2)
    assert len(summary) == 10
    for col in ("auc_final", "auc_best", "ap_final", "f1_final", "noise_rate_est"):
        values = summary[col].to_numpy(dtype=float)
        assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1)), col
    assert set(summary.loc[summary.method == "adamw", "signal"]) == {"loss"}
    assert set(summary.loc[summary.method == "also-min", "signal"]) == {"loss", "weight"}
    # the true noise rate is what the noise files say
    noise = pd.read_csv(tiny_run / "results" / "tiny" / "noise" / "digits" / "symmetric-0.4-seed3.csv")
    sym = summary[summary.noise == "symmetric"]
    assert np.allclose(sym.noise_rate_true, noise.is_noisy.mean())


def test_rerun_has_nothing_to_do(tiny_run):
    proc = snakemake(tiny_run, "-n", "--cores", "1", "--configfile", str(TINY))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report_contains_figures_and_tables(tiny_run):
    snakemake(tiny_run, "--configfile", str(TINY), "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    for name in ("auc_per_epoch.png", "bmm_fits.png", "memorization.png", "summary.csv"):
        assert name in html, name


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations" in out, out[-3000:]
