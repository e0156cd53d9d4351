"""Paper scale: the paper/grid configs plan, CIFAR and one's own data run through the pipeline,
human (CIFAR-10N) noise, ranked lists of suspicious samples, the paper comparison.

The end-to-end test runs one small pipeline (CIFAR-10 fixture with symmetric and human noise, an
.npz and an image folder of one's own; AdamW and ALSO-min; width 2, 2 epochs) on 2 cores.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from alsofilter import data as D
from alsofilter.data import noise as N
from alsofilter.config import check_config, expand_runs
from alsofilter.reporting.paper import PAPER_AUC, comparison_markdown, comparison_table, reference_frame
from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.detectors.ranking import ranked_samples
from alsofilter.stages.noise import make_noise_file
from conftest import CIFAR10_CLASS_NAMES, write_cifar10_fixture, write_image_folder_fixture, write_npz_fixture

REPO = pathlib.Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def snakemake(workdir, *args, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    return subprocess.run([*SNAKEMAKE, *map(str, args)], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=env)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts, inside = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m:
                counts[m.group(1)] = int(m.group(2))
            elif counts and not line.strip():
                break
    return counts


PER_RUN = ("train", "fit_mixture", "metrics", "rank_samples", "suspects")
REPORT = ("summary_tables", "paper_comparison", "figure_auc", "figure_bmm", "figure_memorization",
          "figure_auc_vs_rate", "all")


# retraining after filtering, per (scenario, seed): paper, 7 detectors x 2 modes + the dropping
# oracle (16 - 1: the relabelling oracle is shared by the scenarios of a (dataset, arch, seed):
# 12 (scenario, seed) but 6 (arch, seed) of them -> 12 x 15 + 6 = 186); grid, 2 detectors + oracle, drop
DOWNSTREAM = {"paper": (12, 12 * 15 + 6), "grid": (84, 84 * 3)}


@pytest.mark.parametrize("name, runs, noise_jobs, folds, datasets", [
    ("paper", 36, 9, 5 * 12, 1), ("grid", 168, 42, 0, 2), ("paper+images", 36, 9, 5 * 12, 1)])
def test_dry_run_job_counts(tmp_path, name, runs, noise_jobs, folds, datasets):
    """The full-scale configs plan the same jobs from the CIFAR pickles and, with the overlay
    config/cifar10_images.yaml, from the CIFAR-10 image folder (one prepare job per dataset)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    configs = [REPO / "config" / f"{name.split('+')[0]}.yaml"]
    if name.endswith("+images"):
        write_image_folder_fixture(data_dir / "cifar10-jpg" / "train", CIFAR10_CLASS_NAMES, per_class=7)
        write_image_folder_fixture(data_dir / "cifar10-jpg" / "test", CIFAR10_CLASS_NAMES, per_class=7)
        configs.append(REPO / "config" / "cifar10_images.yaml")
    result = snakemake(tmp_path, "-n", "--configfile", *configs, "--config", f"data_dir={data_dir}",
                       *([f'datasets={{"cifar10": {{"path": "{data_dir / "cifar10-jpg"}"}}}}']
                         if name.endswith("+images") else []))
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout + result.stderr)
    expected = {rule: runs for rule in PER_RUN}
    expected.update({rule: 1 for rule in REPORT}, make_noise=noise_jobs, leaderboard=1,
                    crossval_cleanlab_pixels=noise_jobs,   # pixels: per noise file, not per arch
                    prepare_data=datasets)
    if folds:   # paper: cleanlab on 5-fold networks for each of the 12 (scenario, seed)
        expected.update(crossval_fold=folds, crossval_cleanlab_network=folds // 5)
    scenario_seeds, retrains = DOWNSTREAM[name.split("+")[0]]
    expected.update(cleaned_labels=scenario_seeds, retrain=retrains, downstream=1)
    expected["total"] = sum(expected.values())
    assert counts == expected


def test_paper_config_scenarios():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    runs = expand_runs(config)
    scen = {(r.arch, r.noise, r.rate) for r in runs}
    assert scen == {("resnet18", "symmetric", 0.8), ("resnet34", "symmetric", 0.8),
                    ("resnet18", "symmetric", 0.4), ("resnet18", "asymmetric", 0.4)}
    assert {r.method for r in runs} == {"adamw", "also-min", "also-max"} and len({r.seed for r in runs}) == 3
    t = config["training"]
    assert (t["batch_size"], t["epochs"], t["lr"], t["weight_decay"], t["pi_lr"], t["pi_decay"], t["also_mode"]) == \
        (64, 100, 1e-3, 1e-4, 1e-5, 0.1, "extragrad")
    check_config(config, check_files=False)
    for name in ("grid", "cifar10n", "own_data"):
        check_config(yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text()), check_files=False)


def test_dry_run_cifar10n(tmp_path):
    """The CIFAR-10N config plans once its label file exists (50 000 labels, like CIFAR-10)."""
    config = yaml.safe_load((REPO / "config" / "cifar10n.yaml").read_text())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "labels.npz", **{k: rng.integers(0, 10, 50_000) for k in
                                         ("aggre_label", "random_label1", "worse_label")})
    config["noise_options"]["human_labels"] = str(tmp_path / "labels.npz")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--configfile", tmp_path / "c.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 18 and counts["make_noise"] == 9 and counts["rank_samples"] == 18
    out = result.stdout + result.stderr
    assert "results/cifar10n/noise/cifar10/human-worst-0.0-seed42.csv" in out


# ------------------------------------------------------------------------------ human labels
def _labels_pt(path, columns: dict, legacy=False):
    import torch

    kwargs = {"_use_new_zipfile_serialization": False} if legacy else {}
    torch.save(columns, path, **kwargs)
    return path


@pytest.mark.parametrize("fmt", ["pt", "pt-legacy", "pt-tensors", "npz", "npy", "csv"])
def test_read_human_labels_formats(tmp_path, fmt):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 10, 50)
    worst = rng.integers(0, 10, 50)
    cols = {"clean_label": clean, "worse_label": worst, "aggre_label": clean}
    if fmt.startswith("pt"):
        import torch

        if fmt == "pt-tensors":
            cols = {k: torch.from_numpy(v) for k, v in cols.items()}
        path = _labels_pt(tmp_path / "h.pt", cols, legacy=fmt == "pt-legacy")
    elif fmt == "npz":
        path = tmp_path / "h.npz"
        np.savez(path, clean=clean, worst=worst, aggregate=clean)
    elif fmt == "npy":
        path = tmp_path / "h.npy"
        arr = np.zeros(50, dtype=[("clean", "i8"), ("worst", "i8"), ("aggregate", "i8")])
        arr["clean"], arr["worst"], arr["aggregate"] = clean, worst, clean
        np.save(path, arr)
    else:
        path = tmp_path / "h.csv"
        pd.DataFrame({"index": np.arange(50), "clean": clean, "worst": worst, "aggregate": clean}).to_csv(path, index=False)
    assert np.array_equal(N.read_human_labels(path, "human:worst", 50, 10), worst)
    table = N.human_noise_table(clean, 10, "human-worst", path, "cifar10")
    assert np.array_equal(table["noisy_label"], worst) and table["is_noisy"].sum() == (clean != worst).sum()
    with pytest.raises(ValueError, match=r"has 50 labels but the training set has 49"):
        N.read_human_labels(path, "human:worst", 49)
    with pytest.raises(ValueError, match="no labels for 'human:random2'"):
        N.read_human_labels(path, "human:random2", 50)


def test_human_labels_pt_read_without_torch(tmp_path, monkeypatch):
    """CIFAR-10N's file (a dict of numpy arrays) is read with the restricted unpickler, no torch."""
    path = _labels_pt(tmp_path / "CIFAR-10_human.pt", {"worse_label": np.arange(5) % 3})
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail
    N._read_human_label_file.cache_clear()
    assert N.read_human_labels(path, "human-worst").tolist() == [0, 1, 2, 0, 1]


def test_human_labels_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"noise_options.human_labels.*missing.pt does not exist"):
        N.read_human_labels(tmp_path / "missing.pt", "human:worst")
    np.save(tmp_path / "plain.npy", np.arange(5))
    with pytest.raises(ValueError, match="structured array"):
        N.read_human_labels(tmp_path / "plain.npy", "human:worst")
    clean = np.arange(20) % 10
    np.savez(tmp_path / "shuffled.npz", clean_label=clean[::-1], worse_label=clean)
    with pytest.raises(ValueError, match="must follow the training set's order"):
        N.human_noise_table(clean, 10, "human:worst", tmp_path / "shuffled.npz", "cifar10")
    np.savez(tmp_path / "range.npz", worse_label=clean + 5)
    with pytest.raises(ValueError, match=r"allowed: 0\.\.9"):
        N.human_noise_table(clean, 10, "human:worst", tmp_path / "range.npz", "cifar10")
    assert N.canonical_noise("human:worst") == "human-worst" == N.canonical_noise("human-worst")
    with pytest.raises(ValueError, match="human:aggregate"):
        N.canonical_noise("human:best")


def test_make_noise_file_human_wrong_length(cifar10_dir, tmp_path):
    np.savez(tmp_path / "short.npz", worse_label=np.zeros(10, dtype=np.int64))
    with pytest.raises(ValueError, match=r"short.npz.*has 10 labels but the training set of dataset 'cifar10' has 200"):
        make_noise_file("cifar10", "human-worst", 0.0, 1, tmp_path / "n.csv", tmp_path / "n.json",
                        data_dir=str(cifar10_dir), noise_options={"human_labels": str(tmp_path / "short.npz")},
                        dataset_options={"format": "cifar10", "verify_md5": False})
    assert not (tmp_path / "n.csv").exists()


# ------------------------------------------------------------------------------ datasets
def test_cifar_download_only_imports_torchvision_when_needed(cifar10_dir, tmp_path, monkeypatch):
    sys.modules.pop("torchvision", None)
    data = load_pipeline_dataset("cifar10", str(cifar10_dir), {"format": "cifar10", "verify_md5": False,
                                                               "download": True})
    assert data.num_train == 200 and "torchvision" not in sys.modules
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on a machine without it
    missing = tmp_path / "nothing_here"
    with pytest.raises(FileNotFoundError, match=r"download: true needs torchvision.*cs.toronto.edu"):
        load_pipeline_dataset("cifar10", str(missing), {"download": True})


def test_cifar100_asymmetric_uses_superclasses(cifar100_dir, tmp_path):
    from conftest import cifar100_fixture_fine_to_coarse

    table = make_noise_file("c100", "asymmetric", 0.5, 0, tmp_path / "n.csv", tmp_path / "n.json",
                            data_dir=str(cifar100_dir),
                            dataset_options={"format": "cifar100", "verify_md5": False})
    f2c = cifar100_fixture_fine_to_coarse()
    flipped = table[table["is_noisy"]]
    assert len(flipped) > 0
    assert (f2c[flipped["true_label"]] == f2c[flipped["noisy_label"]]).all()
    assert json.loads((tmp_path / "n.json").read_text())["mapping"]


def test_ranked_samples_order_and_columns():
    rng = np.random.default_rng(0)
    n = 30
    weight = rng.dirichlet(np.ones(n), size=2).astype(np.float32)
    record = {"weight": weight, "loss": rng.random((2, n)), "pred": rng.integers(0, 3, (2, n)),
              "noisy_label": rng.integers(0, 3, n), "true_label": rng.integers(0, 3, n)}
    record["is_noisy"] = record["noisy_label"] != record["true_label"]
    table = ranked_samples(record, {}, "also-min", ["a", "b", "c"], [f"f{i}.png" for i in range(n)])
    assert list(table.columns) == ["rank", "index", "file_name", "given_label", "given_class", "predicted_label",
                                   "predicted_class", "noise_probability", "signal", "score", "true_label",
                                   "is_noisy"]
    assert table["score"].is_monotonic_increasing  # smallest weight = most suspicious
    assert table["file_name"].iloc[0] == f"f{table['index'].iloc[0]}.png"
    assert table["noise_probability"].between(0, 1).all() and set(table["signal"]) == {"weight"}
    adamw = ranked_samples(record, {}, "adamw")
    assert adamw["score"].is_monotonic_decreasing and set(adamw["signal"]) == {"loss"}
    assert (adamw["file_name"] == "").all()


def test_paper_reference_and_comparison():
    ref = reference_frame()
    assert len(ref) == len(PAPER_AUC) == 13 and set(ref["dataset"]) == {"cifar10"}
    row = PAPER_AUC[(PAPER_AUC.arch == "resnet18") & (PAPER_AUC.rate == 0.8) & (PAPER_AUC.method == "adamw")]
    assert dict(zip(row.statistic, row.value)) == {"peak": 0.885, "final": 0.535}
    summary = pd.DataFrame([
        dict(dataset="cifar10", arch="resnet18", method="also-min", noise="symmetric", rate=0.8, seed=s,
             signal="weight", auc_final=f, auc_best=b, epoch_best=50, epochs=100)
        for s, f, b in ((1, 0.87, 0.91), (2, 0.89, 0.89))] + [
        dict(dataset="digits", arch="resnet18", method="adamw", noise="symmetric", rate=0.8, seed=1,
             signal="loss", auc_final=0.5, auc_best=0.6, epoch_best=3, epochs=100)])
    table = comparison_table(summary)
    assert len(table) == 2
    final = table[table.statistic == "final"].iloc[0]
    assert final.paper_value == 0.88 and final.ours_mean == pytest.approx(0.88)
    assert final.ours_std == pytest.approx(np.std([0.87, 0.89], ddof=1)) and final.difference == pytest.approx(0.0)
    md = comparison_markdown(table)
    assert "0.880 ± 0.014" in md and "+0.000" in md
    assert "No scenario" in comparison_markdown(comparison_table(summary.iloc[2:]))


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Two small pipelines in one folder (width 2, 2 epochs, 1 seed, 2 cores):

    ``e2e``: the CIFAR-10 fixture with symmetric 0.8 noise (a paper scenario) and human:worst
    labels from a CIFAR-10N-style .pt, AdamW and ALSO-min, everything (rule all).
    ``own``: an .npz and an image folder of one's own data (symmetric 0.2), ALSO-min, only the
    ranked lists (the targets a user of their own data asks for).
    """
    root = tmp_path_factory.mktemp("e2e")
    data_dir = write_cifar10_fixture(root / "data", n_train_per_batch=40, n_test=20)
    cifar = D.load_cifar10(data_dir, verify_md5=False)
    rng = np.random.default_rng(0)
    worst = np.where(rng.random(cifar.num_train) < 0.4, rng.integers(0, 10, cifar.num_train), cifar.y_train)
    _labels_pt(root / "CIFAR-10_human.pt", {"clean_label": cifar.y_train, "worse_label": worst,
                                             "aggre_label": cifar.y_train})
    npz = write_npz_fixture(root / "mydata.npz", n=60, n_test=12, shape=(8, 8), channels=3, num_classes=3,
                            file_names=np.array([f"shot_{i:03d}.jpg" for i in range(60)]),
                            class_names=np.array(["ant", "bee", "cow"]))
    images = write_image_folder_fixture(root / "myimages", classes=("cat", "dog", "frog"), per_class=8,
                                        size=(8, 8))
    common = {"device": "cpu", "threads": 1, "data_dir": str(data_dir), "seeds": [1],
              "signals": ["loss", "weight"], "crossval": {"folds": 2},
              "training": {"epochs": 2, "width": 2, "batch_size": 32, "eval_batch_size": 256}}
    paper = dict(common, experiment="e2e", methods=["adamw", "also-min"], scenarios=[
        {"dataset": "cifar10", "arch": "resnet18", "noise": "symmetric", "rate": 0.8},
        {"dataset": "cifar10", "arch": "resnet18", "noise": "human:worst"}],
        datasets={"cifar10": {"options": {"verify_md5": False, "download": True}}},
        noise_options={"human_labels": str(root / "CIFAR-10_human.pt")})
    own = dict(common, experiment="own", methods=["also-min"], scenarios=[
        {"dataset": ["mydata", "myimages"], "arch": "resnet18", "noise": "symmetric", "rate": 0.2}],
        datasets={"mydata": {"format": "npz", "path": str(npz), "training": {"batch_size": 16}},
                  "myimages": {"format": "image_folder", "path": str(images), "training": {"batch_size": 8}}})
    (root / "config.yaml").write_text(yaml.safe_dump(paper))
    (root / "own.yaml").write_text(yaml.safe_dump(own))
    result = snakemake(root, "--cores", "2", "--configfile", root / "config.yaml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    targets = [f"results/own/runs/{d}/resnet18/also-min/symmetric-0.2-seed1/ranked_samples.csv"
               for d in ("mydata", "myimages")]
    result = snakemake(root, *targets, "--cores", "2", "--configfile", root / "own.yaml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return root, cifar, worst


@pytest.mark.slow
def test_e2e_outputs(e2e):
    root, _, _ = e2e
    res = root / "results" / "e2e"
    for name in ("summary.csv", "summary_by_seed.md", "paper_comparison.csv", "paper_comparison.md"):
        assert (res / "tables" / name).stat().st_size > 0
    for name in ("auc_per_epoch", "bmm_fits", "memorization", "auc_vs_rate"):
        for ext in ("png", "pdf"):
            assert (res / "figures" / f"{name}.{ext}").stat().st_size > 0
    summary = pd.read_csv(res / "tables" / "summary.csv")
    assert set(summary["noise"]) == {"symmetric", "human-worst"} and len(summary) == 4 + 2  # ALSO: loss, weight
    comparison = pd.read_csv(res / "tables" / "paper_comparison.csv")
    assert sorted(zip(comparison["method"], comparison["statistic"])) == [
        ("adamw", "final"), ("adamw", "peak"), ("also-min", "final"), ("also-min", "peak")]
    assert (comparison["epochs"] == 2).all()
    assert "not comparable" in (res / "tables" / "paper_comparison.md").read_text()
    board = pd.read_csv(res / "tables" / "leaderboard.csv")     # cleanlab on RGB CIFAR-format data too
    assert {"cleanlab, network 2-fold CV", "cleanlab, pixel logistic regression 2-fold CV"} <= set(board["detector"])
    assert set(board["noise"]) == {"symmetric", "human-worst"}
    for method, signal in (("adamw", "loss"), ("also-min", "weight")):
        ranked = pd.read_csv(res / f"runs/cifar10/resnet18/{method}/symmetric-0.8-seed1/ranked_samples.csv")
        assert len(ranked) == 200 and (ranked["signal"] == signal).all()


@pytest.mark.slow
def test_e2e_human_noise(e2e):
    root, cifar, worst = e2e
    table = N.read_noise_table(root / "results/e2e/noise/cifar10/human-worst-0.0-seed1.csv")
    assert np.array_equal(table["noisy_label"], worst) and np.array_equal(table["true_label"], cifar.y_train)
    run = root / "results/e2e/runs/cifar10/resnet18/also-min/human-worst-0.0-seed1"
    ranked = pd.read_csv(run / "ranked_samples.csv")
    assert len(ranked) == cifar.num_train and set(ranked["given_class"]) <= set(cifar.class_names)
    assert np.array_equal(ranked.sort_values("index")["given_label"], worst)


@pytest.mark.slow
@pytest.mark.parametrize("dataset, n", [("mydata", 60), ("myimages", 24)])
def test_e2e_ranked_user_data(e2e, dataset, n):
    root, _, _ = e2e
    path = root / f"results/own/runs/{dataset}/resnet18/also-min/symmetric-0.2-seed1/ranked_samples.csv"
    ranked = pd.read_csv(path, keep_default_na=False)
    assert len(ranked) == n and ranked["rank"].tolist() == list(range(1, n + 1))
    assert sorted(ranked["index"]) == list(range(n))
    assert ranked["noise_probability"].between(0, 1).all()
    assert (ranked["signal"] == "weight").all() and ranked["score"].is_monotonic_increasing
    if dataset == "mydata":
        assert (ranked["file_name"] == [f"shot_{i:03d}.jpg" for i in ranked["index"]]).all()
        assert set(ranked["given_class"]) <= {"ant", "bee", "cow"}
    else:
        classes = ranked["file_name"].str.split("/").str[0]
        assert classes.isin(["cat", "dog", "frog"]).all() and ranked["file_name"].str.endswith(".png").all()
        assert (classes == [["cat", "dog", "frog"][t] for t in ranked["true_label"]]).all()


@pytest.mark.slow
def test_e2e_human_wrong_length_fails_at_job_start(e2e, tmp_path):
    """With an unverified CIFAR (size unknown at DAG time) a wrong-length label file fails the
    make_noise job with a message naming the file."""
    root, _, _ = e2e
    config = yaml.safe_load((root / "config.yaml").read_text())
    np.savez(tmp_path / "short.npz", worse_label=np.zeros(7, dtype=np.int64))
    config.update(experiment="e2e_short", noise_options={"human_labels": str(tmp_path / "short.npz")},
                  scenarios=[config["scenarios"][1]])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/e2e_short/noise/cifar10/human-worst-0.0-seed1.csv"
    result = snakemake(tmp_path, target, "--cores", "1", "--configfile", tmp_path / "config.yaml")
    assert result.returncode != 0
    log = (tmp_path / "results/e2e_short/logs/noise/cifar10/human-worst-0.0-seed1.log")
    text = result.stdout + result.stderr + (log.read_text() if log.exists() else "")
    assert "short.npz" in text and "has 7 labels but the training set of dataset 'cifar10' has 200" in text
    assert not (tmp_path / target).exists()
