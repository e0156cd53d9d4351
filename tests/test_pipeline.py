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
        assert (run / "suspects.html").read_text().count('src="data:image/png;base64,') == 64
        figure = results / "figures" / "suspects" / run.relative_to(results / "runs")
        for ext in ("png", "pdf"):
            assert figure.with_name(f"{figure.name}.{ext}").stat().st_size > 1000
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
    # adamw: loss, loss_mean, aum; also-*: those and weight -> 2 scenarios x (3 + 4 + 4)
    assert len(summary) == 22
    for col in ("auc_final", "auc_best", "ap_final", "f1_final", "noise_rate_est"):
        values = summary[col].to_numpy(dtype=float)
        assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1)), col
    assert set(summary.loc[summary.method == "adamw", "signal"]) == {"loss", "loss_mean", "aum"}
    assert set(summary.loc[summary.method == "also-min", "signal"]) == {"loss", "weight", "loss_mean", "aum"}
    # the true noise rate is what the noise files say
    noise = pd.read_csv(tiny_run / "results" / "tiny" / "noise" / "digits" / "symmetric-0.4-seed3.csv")
    sym = summary[summary.noise == "symmetric"]
    assert np.allclose(sym.noise_rate_true, noise.is_noisy.mean())


def test_leaderboard_has_every_detector(tiny_run):
    results = tiny_run / "results" / "tiny"
    board = pd.read_csv(results / "tables" / "leaderboard.csv")
    assert len(board.groupby(["noise", "rate"])) == 2
    for _, rows in board.groupby(["noise", "rate"]):
        # one row per score: 11 (method, signal) pairs + AdamW's loss stopped early, each with its
        # BMM and GMM decision side by side, + cleanlab on the network and on the pixels
        assert len(rows) == 14 and rows["detector"].is_unique
        assert set(rows["decisions"]) == {"BMM, GMM", "cleanlab"}
        assert {"cleanlab, network 2-fold CV", "cleanlab, pixel logistic regression 2-fold CV",
                "ALSO-min π", "AdamW loss", "AdamW AUM", "AdamW mean loss"} <= set(rows["detector"])
        assert rows["auc_mean"].is_monotonic_decreasing and rows["rank"].tolist() == list(range(1, 15))
        runs = rows[rows["method"] != "crossval"]
        for decision in ("bmm", "gmm"):
            assert runs[f"f1_{decision}_mean"].between(0, 1).all() and runs[f"noise_rate_est_{decision}_mean"].notna().all()
        assert rows.loc[rows["method"] == "crossval", "f1_bmm_mean"].isna().all()
        assert rows.loc[rows["method"] == "crossval", "f1_cleanlab_mean"].between(0, 1).all()
        stopped = rows[rows["detector"] == "AdamW loss, stopped early"].iloc[0]
        assert 1 <= stopped["epoch"] <= 3 and stopped["verdict_vs_ours"] in ("ahead", "behind", "within noise")
        # every score compared with the paper's method and the best one, paired, with an interval
        assert rows.loc[rows["ours"], "verdict_vs_ours"].item() == "reference"
        assert set(rows["verdict_vs_best"]) <= {"reference", "ahead", "behind", "within noise"}
        assert (rows["auc_vs_ours_low"] <= rows["auc_vs_ours_high"]).all()
        assert rows["ours"].sum() == 1 and rows.loc[rows["ours"], "detector"].item() == "ALSO-min π"
        assert np.all((rows["auc_mean"] >= 0) & (rows["auc_mean"] <= 1))
        network = rows[rows["detector"].str.startswith("cleanlab, network")].iloc[0]
        assert network["training_jobs"] == 2 and network["training_seconds"] > 0
        assert (rows.loc[rows["method"] != "crossval", "training_jobs"] == 1).all()
    markdown = (results / "tables" / "leaderboard.md").read_text()
    assert markdown.count("**ALSO-min π**") == 2 and markdown.count("Best by ROC-AUC") == 2
    assert "| BMM: P / R / F1 / rate | GMM: P / R / F1 / rate | cleanlab: P / R / F1 / rate |" in markdown
    paired = pd.read_csv(results / "tables" / "leaderboard_paired.csv")
    assert {"auc", "f1_bmm", "f1_gmm"} <= set(paired["metric"]) and set(paired["detector"]) <= set(board["detector"])
    for ext in ("png", "pdf"):
        assert (results / "figures" / f"leaderboard.{ext}").stat().st_size > 1000
    # the folds' out-of-sample predictions come from models that never saw them
    folds = sorted((results / "crossval").rglob("fold*/predictions.npz"))
    assert len(folds) == 2 * 2
    for path in folds:
        with np.load(path) as f:
            assert not np.intersect1d(f["index"], f["train_index"]).size


def test_downstream_table_figure_and_cleaned_labels(tiny_run):
    results = tiny_run / "results" / "tiny"
    table = pd.read_csv(results / "tables" / "downstream.csv")
    for _, rows in table.groupby(["noise", "rate"]):
        # no filtering, oracle x {drop, relabel}, ALSO-min pi + BMM x {drop, relabel}
        assert sorted(zip(rows["detector"], rows["mode"])) == [
            ("also-min.weight.bmm", "drop"), ("also-min.weight.bmm", "relabel"), ("none", "-"),
            ("oracle", "drop"), ("oracle", "relabel")]
        assert rows["final_acc_mean"].between(0, 1).all() and (rows["seeds"] == 1).all()
        oracle = rows.set_index(["detector", "mode"]).loc[("oracle", "drop")]
        assert oracle["kept_correct_mean"] == 1.0 and oracle["gap_to_oracle"] == 0
        assert rows.loc[rows["mode"] == "relabel", "kept_mean"].eq(1).all()
        # paired against no filtering (1 seed: the binomial test-set interval only)
        none = rows[rows["detector"] != "none"]
        assert none["verdict_vs_none"].isin(["ahead", "behind", "within noise"]).all()
        assert (none["vs_none_low"] <= none["vs_none_high"]).all()
    assert "# Downstream" in (results / "tables" / "downstream.md").read_text()
    paired = pd.read_csv(results / "tables" / "downstream_paired.csv")
    assert set(paired["role"]) == {"none", "ours"} and paired["seeds"].eq(1).all()
    for ext in ("png", "pdf"):
        assert (results / "figures" / f"downstream.{ext}").stat().st_size > 1000
    # no filtering is the AdamW run itself: no retraining job for it
    assert not list((results / "downstream").rglob("none/drop/history.csv"))
    # per scenario: oracle drop, ALSO-min drop and relabel; the relabelling oracle (true labels
    # everywhere) is the same run in both scenarios and is trained once
    assert len(list((results / "benchmarks" / "retrain").rglob("*.tsv"))) == 2 * 3 + 1
    # each run's own decision as cleaned labels; the ALSO-min run's equals the downstream drop file
    scenario = "digits/resnet18/symmetric-0.4-seed3"
    own = pd.read_csv(results / "runs" / "digits/resnet18/also-min/symmetric-0.4-seed3/cleaned_labels.csv")
    stage = pd.read_csv(results / "downstream" / scenario / "also-min.weight.bmm/drop/cleaned_labels.csv")
    assert own["decision"].tolist() == stage["decision"].tolist()
    assert own["train_label"].tolist() == stage["train_label"].tolist()


def test_rerun_has_nothing_to_do(tiny_run):
    proc = snakemake(tiny_run, "-n", "--cores", "1", "--configfile", str(TINY))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report_contains_figures_and_tables(tiny_run):
    snakemake(tiny_run, "--configfile", str(TINY), "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    for name in ("auc_per_epoch.png", "bmm_fits.png", "memorization.png", "summary.csv", "leaderboard.png",
                 "Suspects"):
        assert name in html, name


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations" in out, out[-3000:]
