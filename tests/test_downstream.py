"""Downstream: cleaned labels (drop / relabel / oracle / none), retraining on them with the real
training job, the table and figure, and the config checks."""
import json

import numpy as np
import pandas as pd
import pytest

from alsofilter.detectors.decisions import (cleaned_labels, crossval_decision, parse_detector, read_cleaned_labels,
                                            reference_decision, run_decision, training_set)
from alsofilter.config import ConfigError, check_config, downstream_settings, leaderboard_detectors
from alsofilter.data import load_digits_dataset
from alsofilter.reporting.downstream import aggregate, markdown, paired_accuracy, variant_row, with_verdicts
from alsofilter.data.noise import make_noisy_labels, write_noise_table
from alsofilter.stages.downstream import cleaned_labels_files, downstream_files
from alsofilter.stages.retrain import retrain_job
from alsofilter.training.job import run_training_job


def _decision(n=200, seed=0):
    rng = np.random.default_rng(seed)
    given = rng.integers(0, 10, n)
    flagged = rng.random(n) < 0.3
    predicted = np.where(rng.random(n) < 0.5, given, (given + 1) % 10)
    return given, flagged, predicted, rng.random(n)


def test_drop_keeps_exactly_the_complement_of_the_flagged_set():
    given, flagged, predicted, prob = _decision()
    table = cleaned_labels(given, flagged, predicted, prob, "drop", [f"f{i}.png" for i in range(len(given))])
    index, labels = training_set(table)
    assert np.array_equal(index, np.flatnonzero(~flagged))
    assert np.array_equal(labels[index], given[index]) and np.all(labels[flagged] == -1)
    assert set(table.loc[flagged, "decision"]) == {"drop"} and set(table.loc[~flagged, "decision"]) == {"keep"}
    assert list(table.columns) == ["index", "file_name", "given_label", "flagged", "noise_probability",
                                   "predicted_label", "decision", "train_label"]
    assert table["file_name"].iloc[7] == "f7.png"


def test_relabel_changes_only_flagged_samples_to_the_prediction():
    given, flagged, predicted, prob = _decision(seed=1)
    table = cleaned_labels(given, flagged, predicted, prob, "relabel")
    index, labels = training_set(table)
    assert np.array_equal(index, np.arange(len(given)))          # nothing leaves
    assert np.array_equal(labels[~flagged], given[~flagged])      # unflagged untouched
    assert np.array_equal(labels[flagged], predicted[flagged])    # flagged take the prediction
    changed = labels != given
    assert not (changed & ~flagged).any()


def test_oracle_keeps_exactly_the_clean_samples_and_none_keeps_all():
    true = np.arange(50) % 10
    given = true.copy()
    given[[3, 17, 40]] = (true[[3, 17, 40]] + 4) % 10
    oracle = reference_decision("oracle", given, true)
    drop = cleaned_labels(given, oracle["flagged"], oracle["predicted"], oracle["noise_probability"], "drop")
    index, labels = training_set(drop)
    assert np.array_equal(index, np.flatnonzero(given == true))
    relabel = cleaned_labels(given, oracle["flagged"], oracle["predicted"], oracle["noise_probability"], "relabel")
    assert np.array_equal(training_set(relabel)[1], true)         # the relabelling ceiling: all true
    none = reference_decision("none", given, true)
    kept, labels = training_set(cleaned_labels(given, none["flagged"], none["predicted"],
                                               none["noise_probability"], "drop"))
    assert np.array_equal(kept, np.arange(50)) and np.array_equal(labels, given)


def test_run_decision_is_the_mixture_posterior_above_one_half_at_the_last_epoch():
    posterior = np.array([[0.9, 0.9, 0.9, 0.9], [0.1, 0.5, 0.51, 0.99]])
    gmm = posterior[:, ::-1]
    signals = {"pred": np.array([[0, 0, 0, 0], [1, 2, 3, 4]], dtype=np.int16)}
    bmm = run_decision(signals, {"weight/posterior": posterior, "weight/gmm_posterior": gmm}, "weight", "bmm")
    assert bmm["flagged"].tolist() == [False, False, True, True]      # 0.5 is not > 0.5
    assert bmm["predicted"].tolist() == [1, 2, 3, 4]
    assert run_decision(signals, {"weight/gmm_posterior": gmm}, "weight", "gmm")["flagged"].tolist() == \
        [True, True, False, False]
    with pytest.raises(ValueError, match="loss/posterior"):
        run_decision(signals, {"weight/posterior": posterior}, "loss", "bmm")


def test_crossval_decision_uses_cleanlab_flags_and_the_out_of_fold_argmax():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    out = crossval_decision({"flagged": np.array([False, True, False]), "proba": proba}, [0, 1, 1])
    assert out["flagged"].tolist() == [False, True, False]
    assert out["predicted"].tolist() == [0, 2, 1]
    assert np.allclose(out["noise_probability"], [0.3, 0.9, 0.6])


def test_detector_names_and_bad_input():
    assert parse_detector("also-min.weight.bmm").method == "also-min"
    assert parse_detector("also-min.weight.bmm").label == "ALSO-min π + BMM"
    assert parse_detector("cleanlab_pixels").kind == "crossval" and parse_detector("oracle").kind == "reference"
    for bad in ("also-min.weight", "adamw.loss.kmeans", "x", ""):
        with pytest.raises(ValueError, match="downstream detector"):
            parse_detector(bad)
    given, flagged, predicted, prob = _decision(10)
    with pytest.raises(ValueError, match="mode"):
        cleaned_labels(given, flagged, predicted, prob, "flip")
    with pytest.raises(ValueError, match="flagged has shape"):
        cleaned_labels(given, flagged[:5], predicted, prob, "drop")
    shuffled = cleaned_labels(given, flagged, predicted, prob, "drop").iloc[::-1]
    with pytest.raises(ValueError, match="index order"):
        training_set(shuffled)


# ------------------------------------------------------------------------ retraining (real)
SETTINGS = dict(method="adamw", arch="resnet18", width=4, epochs=2, batch_size=128, crop_padding=0,
                flip=False, device="cpu", seed=7, pi_lr=3e-3)


@pytest.fixture(scope="module")
def digits_noise(tmp_path_factory):
    root = tmp_path_factory.mktemp("downstream")
    digits = load_digits_dataset()
    table = make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 2, "digits")
    write_noise_table(table, root / "noise.csv")
    return root, digits, table


def _history(path):
    return pd.read_csv(path).drop(columns="seconds")


def test_retraining_on_no_filtering_reproduces_the_baseline_run_exactly(digits_noise, tmp_path):
    """Why the pipeline takes 'no filtering' from the AdamW run instead of training it again."""
    root, digits, table = digits_noise
    run_training_job(root / "noise.csv", SETTINGS, tmp_path / "b.npz", tmp_path / "b.csv", tmp_path / "b.json",
                     dataset="digits", data=digits, progress=False, stall_timeout=0)
    cleaned = tmp_path / "none.csv"
    cleaned_labels_files(root / "noise.csv", [("none", "drop")], [cleaned])
    retrain_job(root / "noise.csv", cleaned, SETTINGS, tmp_path / "r.npz", tmp_path / "r.csv", tmp_path / "r.json",
                dataset="digits", data=digits, progress=False, stall_timeout=0)
    pd.testing.assert_frame_equal(_history(tmp_path / "b.csv"), _history(tmp_path / "r.csv"))
    with np.load(tmp_path / "b.npz") as b, np.load(tmp_path / "r.npz") as r:
        assert np.array_equal(b["loss"], r["loss"])


@pytest.mark.parametrize("mode", ["drop", "relabel"])
def test_retraining_trains_on_what_the_oracle_keeps(digits_noise, tmp_path, mode):
    root, digits, table = digits_noise
    cleaned = tmp_path / "oracle.csv"
    cleaned_labels_files(root / "noise.csv", [("oracle", mode)], [cleaned])
    trainer = retrain_job(root / "noise.csv", cleaned, SETTINGS, tmp_path / "r.npz", tmp_path / "r.csv",
                          tmp_path / "r.json", dataset="digits", data=digits, progress=False, stall_timeout=0)
    clean = ~table["is_noisy"].to_numpy(dtype=bool)
    with np.load(tmp_path / "r.npz") as r:
        if mode == "drop":   # exactly the clean samples, with their (correct) labels
            assert r["noisy_label"].shape == (clean.sum(),)
            assert np.array_equal(r["noisy_label"], table["true_label"].to_numpy()[clean])
        else:                # every sample, with its true label
            assert np.array_equal(r["noisy_label"], table["true_label"].to_numpy())
        assert not r["is_noisy"].any()
    prov = json.loads((tmp_path / "r.json").read_text())
    assert prov["kept"] == (clean.sum() if mode == "drop" else len(table)) and prov["kept_labels_correct"] == 1.0
    assert len(pd.read_csv(tmp_path / "r.csv")) == SETTINGS["epochs"] and trainer.num_samples == prov["kept"]


def test_a_decision_that_keeps_less_than_a_batch_is_recorded_not_trained(digits_noise, tmp_path):
    root, digits, table = digits_noise
    n = len(table)
    given = table["noisy_label"].to_numpy()
    flagged = np.ones(n, dtype=bool)
    flagged[:10] = False
    cleaned = tmp_path / "c.csv"
    cleaned_labels(given, flagged, given, flagged.astype(float), "drop").to_csv(cleaned, index=False)
    assert retrain_job(root / "noise.csv", cleaned, SETTINGS, tmp_path / "r.npz", tmp_path / "r.csv",
                       tmp_path / "r.json", dataset="digits", data=digits, progress=False) is None
    assert "keeps 10 of" in json.loads((tmp_path / "r.json").read_text())["skipped"]
    assert pd.read_csv(tmp_path / "r.csv").empty


def test_cleaned_labels_of_another_noise_file_are_refused(digits_noise, tmp_path):
    root, digits, table = digits_noise
    other = make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 99, "digits")
    write_noise_table(other, tmp_path / "other.csv")
    cleaned = tmp_path / "c.csv"
    cleaned_labels_files(tmp_path / "other.csv", [("none", "drop")], [cleaned])
    with pytest.raises(ValueError, match="does not belong"):
        retrain_job(root / "noise.csv", cleaned, SETTINGS, tmp_path / "r.npz", tmp_path / "r.csv",
                    tmp_path / "r.json", dataset="digits", data=digits, progress=False)


# ------------------------------------------------------------------------ table and figure
def _write_variant(folder, name, true, given, acc):
    """A variant's files: ``none`` flags nothing, any other name flags exactly the mislabeled."""
    cleaned = folder / f"{name}.csv"
    flagged = np.zeros(len(true), dtype=bool) if name == "none" else given != true
    cleaned_labels(given, flagged, true, flagged.astype(float), "drop").to_csv(cleaned, index=False)
    history = folder / f"{name}-history.csv"
    pd.DataFrame({"epoch": np.arange(1, len(acc) + 1), "test_acc": acc}).to_csv(history, index=False)
    return cleaned, history


def test_table_gaps_and_the_plain_sentence_when_no_detector_helps(tmp_path):
    true = np.arange(40) % 3
    given = np.where(np.arange(40) % 4 == 0, (true + 1) % 3, true)
    noise = tmp_path / "noise.csv"
    write_noise_table(pd.DataFrame({"index": np.arange(40), "true_label": true, "noisy_label": given,
                                    "is_noisy": true != given}), noise)
    scen = {"dataset": "digits", "arch": "resnet18", "noise": "symmetric", "rate": 0.4, "seed": 1}
    items = []
    for seed, accs in ((1, {"none": [0.5, 0.6], "oracle": [0.6, 0.8], "adamw.loss.bmm": [0.55, 0.58]}),
                       (2, {"none": [0.5, 0.7], "oracle": [0.7, 0.9], "adamw.loss.bmm": [0.6, 0.62]})):
        for name, acc in accs.items():
            d = tmp_path / f"s{seed}"
            d.mkdir(exist_ok=True)
            cleaned, history = _write_variant(d, name, true, given, acc)
            items.append(({**scen, "seed": seed}, name, "drop", cleaned, history, noise, []))
    table = aggregate(pd.DataFrame([variant_row(*item) for item in items]))
    row = table.set_index("detector").loc["adamw.loss.bmm"]
    assert row["final_acc_mean"] == pytest.approx(0.60)
    assert row["gap_to_oracle"] == pytest.approx(0.60 - 0.85)
    assert row["gain_over_none"] == pytest.approx(0.60 - 0.65)
    assert row["best_acc_mean"] == pytest.approx(0.60) and row["seeds"] == 2
    assert row["kept_mean"] == pytest.approx(30 / 40) and row["kept_correct_mean"] == 1.0
    none = table.set_index("detector").loc["none"]
    assert none["mode"] == "-" and none["kept_correct_mean"] == pytest.approx(30 / 40)
    # the sentences come from the verdicts: with 2 seeds and 360 test images, -0.05 is within noise
    rows = pd.DataFrame([variant_row(*item) for item in items])
    paired = paired_accuracy(rows, {"digits": 360})
    mine = paired[(paired["detector"] == "adamw.loss.bmm") & (paired["role"] == "none")].iloc[0]
    assert mine["delta"] == pytest.approx(-0.05) and mine["seeds"] == 2 and mine["verdict"] == "within noise"
    text = markdown(with_verdicts(table, paired))
    assert "No detector beats no filtering beyond noise here." in text
    assert "Within noise of no filtering: 1 of 1 (detector, mode) pairs." in text
    out = downstream_files(items, tmp_path / "d.csv", tmp_path / "d.md", tmp_path / "d.png", tmp_path / "d.pdf")
    assert (tmp_path / "d.png").stat().st_size > 5000 and len(out) == 3
    assert read_cleaned_labels(items[0][3]).shape[0] == 40


# ------------------------------------------------------------------------ config
def _config(**downstream):
    return {"experiment": "x", "scenarios": [{"dataset": "digits", "arch": "resnet18", "noise": "symmetric",
                                             "rate": 0.4}],
            "methods": ["adamw", "also-min"], "seeds": [1], "signals": ["loss", "weight"],
            "crossval": {"folds": 2, "detectors": ["cleanlab_pixels"]}, "downstream": downstream}


def test_config_all_expands_to_the_leaderboard_and_names_bad_detectors():
    config = _config(detectors="all")
    check_config(config, check_files=False)
    assert leaderboard_detectors(config) == ["adamw.loss.bmm", "adamw.loss.gmm", "also-min.loss.bmm",
                                             "also-min.loss.gmm", "also-min.weight.bmm", "also-min.weight.gmm",
                                             "cleanlab_pixels"]
    assert downstream_settings(config) == (leaderboard_detectors(config), ["drop", "relabel"])
    assert downstream_settings(_config()) == ([], ["drop", "relabel"])
    for bad, match in (({"detectors": ["adamw.weight.bmm"]}, "adamw.weight.bmm"),
                       ({"detectors": ["cleanlab_network"]}, "cleanlab_network"),
                       ({"detectors": [], "modes": ["flip"]}, "downstream.modes"),
                       ({"detectors": [], "modes": []}, "downstream.modes"),
                       ({"detectors": [], "mode": ["drop"]}, "mode")):
        with pytest.raises(ConfigError, match=match):
            check_config(_config(**bad), check_files=False)


def test_the_relabelling_oracle_is_the_same_run_in_every_noise_scenario(digits_noise, tmp_path):
    """Why the pipeline trains oracle/relabel once per (dataset, arch, seed) and shares it."""
    root, digits, _ = digits_noise
    histories = []
    for noise, rate in (("symmetric", 0.8), ("asymmetric", 0.4)):
        out = tmp_path / f"{noise}{rate}"
        out.mkdir()
        write_noise_table(make_noisy_labels(digits.y_train, 10, noise, rate, 5, "digits"), out / "noise.csv")
        cleaned_labels_files(out / "noise.csv", [("oracle", "relabel")], [out / "cleaned.csv"])
        retrain_job(out / "noise.csv", out / "cleaned.csv", SETTINGS, out / "r.npz", out / "r.csv", out / "r.json",
                    dataset="digits", data=digits, progress=False, stall_timeout=0)
        histories.append(_history(out / "r.csv"))
    pd.testing.assert_frame_equal(*histories)



def test_sentences_from_a_hand_made_table():
    from alsofilter.reporting.downstream import summary_sentences

    rows = pd.DataFrame([
        {"detector": "none", "label": "no filtering", "mode": "-", "verdict_vs_none": "", "vs_none": np.nan,
         "vs_none_low": np.nan, "vs_none_high": np.nan},
        {"detector": "a.loss.bmm", "label": "A", "mode": "drop", "verdict_vs_none": "ahead", "vs_none": 0.1,
         "vs_none_low": 0.05, "vs_none_high": 0.15},
        {"detector": "b.loss.bmm", "label": "B", "mode": "relabel", "verdict_vs_none": "behind", "vs_none": -0.1,
         "vs_none_low": -0.2, "vs_none_high": -0.01},
        {"detector": "c.loss.bmm", "label": "C", "mode": "drop", "verdict_vs_none": "within noise", "vs_none": 0.01,
         "vs_none_low": -0.1, "vs_none_high": 0.12}])
    assert summary_sentences(rows) == [
        "Better than no filtering beyond noise: A (drop, +0.100 [+0.050, +0.150]).",
        "Worse than no filtering beyond noise: B (relabel, -0.100 [-0.200, -0.010]).",
        "Within noise of no filtering: 1 of 3 (detector, mode) pairs."]


# ------------------------------------------------------------------ the plan (alsofilter.config.downstream)
def _plan_config(methods, modes=("drop", "relabel")):
    return {"methods": list(methods), "signals": ["loss", "weight"], "crossval": {"folds": 2, "detectors": []},
            "downstream": {"detectors": ["also-min.weight.bmm"], "modes": list(modes)}}


def test_the_plan_reuses_the_adamw_run_and_trains_the_relabelling_oracle_once():
    from alsofilter.config.downstream import DownstreamItem, downstream_jobs, downstream_variants

    scenarios = [dict(dataset="digits", arch="resnet18", noise=n, rate=r, seed=s)
                 for n, r in (("symmetric", 0.4), ("asymmetric", 0.4)) for s in (1, 2)]
    config = _plan_config(["adamw", "also-min"])
    assert downstream_variants(config) == [("none", "drop"), ("oracle", "drop"), ("oracle", "relabel"),
                                           ("also-min.weight.bmm", "drop"), ("also-min.weight.bmm", "relabel")]
    jobs = downstream_jobs(config, scenarios)
    assert len(jobs) == len(scenarios) * 5
    by_key = {(j.scenario["noise"], j.scenario["seed"], j.detector, j.mode): j for j in jobs}
    none = by_key[("asymmetric", 2, "none", "drop")]
    assert (none.source, none.source_scenario) == ("run", none.scenario)        # the AdamW run itself
    oracle = by_key[("asymmetric", 2, "oracle", "relabel")]
    # true labels are common to every noise of (dataset, arch, seed): the first such scenario's job
    assert oracle.source == "retrain" and oracle.source_scenario == scenarios[1]
    dropped = by_key[("asymmetric", 2, "oracle", "drop")]
    assert (dropped.source, dropped.source_scenario) == ("retrain", dropped.scenario)
    # without adamw among the methods, no filtering is retrained
    jobs = downstream_jobs(_plan_config(["also-min"], modes=["drop"]), scenarios)
    assert {j.source for j in jobs if j.detector == "none"} == {"retrain"}
    # the rule's records read by field and unpack in variant_row's order
    item = DownstreamItem({"dataset": "digits"}, "none", "drop", "c.csv", "h.csv", "n.csv", ["b.tsv"])
    assert item.history == "h.csv" and tuple(item)[3:6] == ("c.csv", "h.csv", "n.csv")
    assert downstream_variants({**config, "downstream": {"detectors": [], "modes": ["drop"]}}) == []
