"""The scale ladder (``ladder: true``, config/cifar10_ladder.yaml): per-scenario seeds, nested rungs,
the checks, the table and figure with known answers, and the real pipeline on a tiny ladder."""
from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import pytest
import yaml

from alsofilter.config import ConfigError, check_config, expand_runs, ladder_sizes, training_settings
from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.config.settings import resolve_pi_lr
from alsofilter.data.subset import stratified_subset
from alsofilter.names import score_label
from alsofilter.reporting.ladder import auc_per_epoch, ladder_table, per_seed_rows, write_ladder

REPO = pathlib.Path(__file__).resolve().parents[1]


def ladder_config(**changes) -> dict:
    config = {"experiment": "lad", "ladder": True, "methods": ["adamw", "also-min"], "seeds": [1],
              "signals": ["loss", "weight", "loss_mean"],
              "scenarios": [{"dataset": "small", "arch": "resnet18", "noise": "symmetric", "rate": 0.4, "seeds": [1, 2]},
                            {"dataset": "large", "arch": "resnet18", "noise": "symmetric", "rate": 0.4}],
              "datasets": {"small": {"format": "digits", "subset": {"train": 300, "test": 100, "seed": 0}},
                           "large": {"format": "digits", "subset": {"train": 900, "test": 100, "seed": 0}}}}
    config.update(changes)
    return config


def test_a_scenario_entry_has_seeds_of_its_own_and_they_are_no_scenario_key():
    config = ladder_config()
    check_config(config, check_files=False)
    runs = expand_runs(config)
    assert [(r.dataset, r.method, r.seed) for r in runs] == [
        ("small", "adamw", 1), ("small", "adamw", 2), ("small", "also-min", 1), ("small", "also-min", 2),
        ("large", "adamw", 1), ("large", "also-min", 1)]
    assert "seeds" not in SCENARIO_KEYS
    with pytest.raises(ConfigError, match=r"scenarios\[0\]\.seeds"):
        check_config(ladder_config(scenarios=[{"dataset": "small", "arch": "resnet18", "noise": "symmetric",
                                               "rate": 0.4, "seeds": [-1]}]), check_files=False)


def test_ladder_sizes_and_what_is_no_ladder():
    assert ladder_sizes(ladder_config()) == {"small": 300, "large": 900}
    assert ladder_sizes(ladder_config(ladder=False)) is None
    other_rate = ladder_config()
    other_rate["scenarios"][1]["rate"] = 0.8
    with pytest.raises(ConfigError, match="differ in the dataset only"):
        check_config(other_rate, check_files=False)
    no_size = ladder_config()
    del no_size["datasets"]["large"]["subset"]
    with pytest.raises(ConfigError, match=r"datasets\.large\.subset\.train"):
        check_config(no_size, check_files=False)
    same = ladder_config()
    same["datasets"]["large"]["subset"]["train"] = 300
    with pytest.raises(ConfigError, match="same training-set size"):
        check_config(same, check_files=False)
    one = ladder_config(scenarios=[{"dataset": "small", "arch": "resnet18", "noise": "symmetric", "rate": 0.4}])
    with pytest.raises(ConfigError, match="at least two datasets"):
        check_config(one, check_files=False)


def test_rungs_are_nested_stratified_subsets():
    # The same seed draws each class's permutation independently of the size, so a smaller rung's
    # images are the first ones of every class's permutation: nested, whatever the sizes.
    labels = np.repeat(np.arange(10), 5000)
    small, middle, full = (stratified_subset(labels, n, seed=0) for n in (5000, 20000, 50000))
    assert set(small) <= set(middle) <= set(full) and len(full) == 50000
    assert np.all(np.bincount(labels[small]) == 500) and np.all(np.bincount(labels[middle]) == 2000)


def test_the_shipped_ladder_plans_what_the_issue_asks():
    config = yaml.safe_load((REPO / "config" / "cifar10_ladder.yaml").read_text())
    check_config(config, check_files=False)
    runs = expand_runs(config)
    sizes = ladder_sizes(config)
    assert list(sizes.values()) == [5000, 20000, 50000]
    seeds = {d: {r.seed for r in runs if r.dataset == d} for d in sizes}
    assert [len(seeds[d]) for d in sizes] == [3, 1, 1]
    assert {r.method for r in runs} == {"adamw", "also-min", "also-min-da"}
    assert {(r.arch, r.noise, r.rate) for r in runs} == {("resnet18", "symmetric", 0.4)}
    tests = {config["datasets"][d]["subset"]["test"] for d in sizes} | {config["datasets"][d]["subset"]["seed"] for d in sizes}
    assert tests == {2000, 0}                     # one test subset (same size, same seed) on every rung
    for run in runs:
        settings = training_settings(config, run)
        assert settings["width"] == 16 and settings["batch_size"] == 64 and settings["epochs"] >= 30
        assert settings["lr"] == 1e-3 and settings["weight_decay"] == 1e-4 and settings["pi_lr"] == "auto"
        assert settings["also_mode"] == ("descent-ascent" if run.method == "also-min-da" else "extragrad")
    # pi_lr: auto keeps pi_lr x steps at the authors' value on every rung
    products = {resolve_pi_lr("auto", n, 64, 30) * n / 64 * 30 for n in sizes.values()}
    assert max(products) == pytest.approx(min(products))
    assert set(config["signals"]) == {"loss", "weight", "loss_mean", "aum"}


def _synthetic_run(rng, n, method, seed, dataset, separation):
    """Metrics/history of one run whose AUC rises to ``separation``, and its last-epoch samples."""
    is_noisy = rng.random(n) < 0.4
    score = rng.normal(size=n) + separation * is_noisy
    epochs = np.arange(1, 4)
    signals = ("weight",) if method.startswith("also") else ("loss", "loss_mean")
    metrics = pd.DataFrame([{"signal": s, "epoch": e, "auc": 0.5 + 0.1 * e, "ap": 0.5, "precision": 0.5, "recall": 0.5,
                             "f1": 0.6, "noise_rate_est": 0.3, "noise_rate_true": 0.4} for s in signals for e in epochs])
    history = pd.DataFrame({"epoch": epochs, "test_acc": [0.2, 0.3, 0.35], "seconds": [1.0, 2.0, 3.0]})
    run = {"dataset": dataset, "arch": "resnet18", "noise": "symmetric", "rate": 0.4, "method": method, "seed": seed}
    samples = {score_label(method, s): (is_noisy, score, {"BMM": score > separation / 2}) for s in signals}
    return run, metrics, history, samples


def test_table_and_figure_with_known_answers(tmp_path):
    rng = np.random.default_rng(0)
    runs, metrics, histories, samples = [], [], [], {}
    for dataset, seeds in (("small", (1, 2)), ("large", (1,))):
        for seed in seeds:
            for method, separation in (("adamw", 0.0), ("also-min", 4.0)):
                run, m, h, s = _synthetic_run(rng, 600, method, seed, dataset, separation)
                runs.append(run), metrics.append(m), histories.append(h)
                samples.setdefault((dataset, "resnet18", "symmetric", 0.4, seed), {}).update(s)
    sizes = {"small": 300, "large": 900}
    out = {k: tmp_path / f"ladder.{k}" for k in ("csv", "md", "png", "pdf")}
    table = write_ladder(runs, sizes, metrics, histories, [float(h["seconds"].sum()) for h in histories], samples,
                         out["csv"], out["md"], out["png"], out["pdf"])
    assert list(table["n_train"]) == [300, 300, 300, 900, 900, 900]
    assert table["auc_final_mean"].tolist() == pytest.approx([0.8] * 6)
    assert (table["epoch_best_mean"] == 3).all() and (table["training_seconds"] == 6.0).all()
    assert table.loc[0, "seeds"] == 2 and table.loc[3, "seeds"] == 1
    also = table[table["method"] == "also-min"]
    # a score that separates (shift 4 sd) against one that does not: ahead beyond noise, at both rungs
    assert (also["verdict_vs_adamw_loss"] == "ahead").all() and (also["auc_vs_adamw_loss"] > 0.4).all()
    assert (also["verdict_vs_adamw_loss_mean"] == "ahead").all()
    assert (table.loc[table["method"] == "adamw", "verdict_vs_adamw_loss"] == "").all()
    text = out["md"].read_text()
    assert "| 900 | ALSO-min π | 1 |" in text and "ahead" in text
    assert pd.read_csv(out["csv"]).shape[0] == 6
    assert out["png"].stat().st_size > 10_000 and out["pdf"].read_bytes().startswith(b"%PDF")
    per_epoch = auc_per_epoch(runs, metrics, sizes)
    assert set(per_epoch["n_train"]) == {300, 900} and len(per_epoch) == 3 * (2 * 3 + 3)   # runs x signals x epochs


def test_per_seed_rows_skip_signals_a_run_did_not_record():
    run = {"dataset": "small", "arch": "resnet18", "noise": "symmetric", "rate": 0.4, "method": "also-min-da", "seed": 1}
    metrics = pd.DataFrame([{"signal": "loss", "epoch": 1, "auc": 0.6, "f1": 0.5, "noise_rate_est": 0.3,
                             "noise_rate_true": 0.4}])
    history = pd.DataFrame({"epoch": [1], "test_acc": [0.3], "seconds": [1.0]})
    assert per_seed_rows([run], [metrics], [history], [1.0], {"small": 300}).empty
    assert ladder_table(pd.DataFrame([{**run, "n_train": 300, "signal": "weight", "detector": "x", "epochs": 1,
                                       **{k: 0.5 for k in ("auc_final", "auc_best", "epoch_best", "f1", "noise_rate_est",
                                                           "noise_rate_true", "test_acc_final", "training_seconds")}}])
                        ).loc[0, "verdict_vs_adamw_loss"] == ""


@pytest.mark.slow
def test_tiny_ladder_end_to_end(tmp_path):
    """The real pipeline on a two-rung ladder of digits: the ladder's table and figure, with the
    paired verdicts of the variant against AdamW."""
    from test_paper_scale import snakemake

    config = ladder_config(methods=["adamw", "also-min-da"], variants={"also-min-da": {"also_mode": "descent-ascent"}},
                           device="cpu", threads=1, stall_timeout=120, crossval={"detectors": []},
                           downstream={"detectors": []}, suspects={"top_n": 4},
                           training={"epochs": 2, "width": 2, "batch_size": 100})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "2", "--configfile", tmp_path / "config.yaml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    res = tmp_path / "results" / "lad"
    table = pd.read_csv(res / "tables" / "ladder.csv")
    assert sorted(set(table["n_train"])) == [300, 900]
    assert set(zip(table["method"], table["signal"])) == {("adamw", "loss"), ("adamw", "loss_mean"), ("also-min-da", "weight")}
    da = table[table["method"] == "also-min-da"]
    assert da["verdict_vs_adamw_loss"].isin(["ahead", "behind", "within noise"]).all()
    assert (table["epochs"] == 2).all() and (table["training_seconds"] > 0).all()
    assert (res / "figures" / "ladder.png").stat().st_size > 10_000
    assert "ALSO-min-da π" in (res / "tables" / "ladder.md").read_text()
