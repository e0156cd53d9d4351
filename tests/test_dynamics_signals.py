"""The free training-dynamics signals (forgetting, confidence, variability) and kNN label
agreement on learned features, on hand-made records with known answers and on a tiny real run."""
import numpy as np
import pytest
import torch

from alsofilter.detectors.knn import knn_disagreement
from alsofilter.detectors.signals import KNN_NEIGHBOURS, available_signals, signal_epochs, suspicion_score


def test_forgetting_counts_correct_to_incorrect_and_ranks_never_learned_highest():
    noisy_label = np.array([0, 0, 0, 1])
    pred = np.array([[0, 0, 1, 0],      # epoch 1
                     [1, 0, 1, 1],      # epoch 2
                     [0, 0, 1, 1],      # epoch 3
                     [1, 0, 1, 0]])     # epoch 4
    score = suspicion_score("forgetting", {"pred": pred, "noisy_label": noisy_label})
    assert score.shape == (4, 4)
    assert score[:, 0].tolist() == [0, 1, 1, 2]      # correct, wrong, correct, wrong: 2 forgettings
    assert score[:, 1].tolist() == [0, 0, 0, 0]      # always correct
    assert score[:, 2].tolist() == [1, 2, 2, 3]      # never learned: floor(e/2) + 1, above any count
    assert score[:, 3].tolist() == [1, 0, 0, 1]      # not learned at epoch 1, learned at 2, forgotten at 4
    # never learned is above the most a learned sample can have (alternating: floor(e/2))
    alternating = np.array([[0], [1], [0], [1], [0]])
    worst = suspicion_score("forgetting", {"pred": alternating, "noisy_label": np.array([0])})[:, 0]
    never = suspicion_score("forgetting", {"pred": np.ones((5, 1), int), "noisy_label": np.array([0])})[:, 0]
    assert np.all(never > worst)


def test_confidence_and_variability_are_mean_and_std_of_the_label_probability():
    p = np.array([[0.9, 0.5, 0.1], [0.7, 0.5, 0.9], [0.8, 0.2, 0.2]])
    record = {"loss": -np.log(p).astype(np.float32)}       # the recorded cross-entropy
    confidence = suspicion_score("confidence", record)
    variability = suspicion_score("variability", record)
    for e in range(3):
        np.testing.assert_allclose(confidence[e], -p[:e + 1].mean(0), rtol=1e-6)
        np.testing.assert_allclose(variability[e], p[:e + 1].std(0), rtol=1e-5, atol=1e-7)
    assert variability[0].tolist() == [0, 0, 0]
    # lowest mean probability = most suspicious; the swinging sample the most variable
    assert np.argmax(confidence[-1]) == 2 and np.argmax(variability[-1]) == 2


def test_knn_disagreement_on_two_clusters():
    angles = np.deg2rad(np.r_[0, 1, 2, 3, 4, 5, 90, 91, 92, 93, 94, 95])
    features = np.c_[np.cos(angles), np.sin(angles)] * np.r_[1, 3, 1, 2, 1, 5, 1, 1, 2, 1, 1, 1][:, None]
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])   # the point at 5 degrees is mislabeled
    score = knn_disagreement(features, labels, k=2)           # cosine: the lengths do not matter
    expected = np.zeros(12)
    expected[5] = 1.0      # its neighbours (4 and 3 degrees) both say 0
    expected[4] = 0.5      # neighbours 3 and 5 degrees
    np.testing.assert_array_equal(score, expected)
    record = {"features": features.astype(np.float16), "noisy_label": labels, "features_epoch": np.int64(7),
              "loss": np.zeros((7, 12), np.float32)}
    assert available_signals(record, ["knn", "weight"]) == ["knn"]
    s = suspicion_score("knn", record)
    assert s.shape == (1, 12) and signal_epochs("knn", record, 1).tolist() == [7]
    assert signal_epochs("loss", record, 7).tolist() == list(range(1, 8))
    with pytest.raises(ValueError, match="features must be"):
        knn_disagreement(features[:5], labels, 2)


def test_penultimate_features_of_a_tiny_run(tmp_path):
    """Saved once, after the last epoch: the last layer applied to them gives the eval pass's
    predictions; the training record is the same with or without taking them."""
    from alsofilter.data import load_digits_dataset
    from alsofilter.data.noise import make_noisy_labels
    from alsofilter.training.features import penultimate_features
    from alsofilter.training.job import record_to_arrays
    from alsofilter.training.trainer import Trainer, TrainConfig

    torch.set_num_threads(1)
    data = load_digits_dataset()
    table = make_noisy_labels(data.y_train, 10, "symmetric", 0.4, 0, "digits")
    settings = TrainConfig(width=4, epochs=2, batch_size=128, device="cpu", seed=5, method="adamw")
    trainer = Trainer(data, table["noisy_label"].to_numpy(), table["true_label"].to_numpy(), settings)
    trainer.fit(progress=False)
    before = record_to_arrays(trainer.record, table["true_label"], table["noisy_label"])
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.model.train()
    out = penultimate_features(trainer)
    assert all(torch.equal(state[k], v) for k, v in trainer.model.state_dict().items())   # BN stats too
    assert trainer.model.training                                                   # its mode restored
    assert out["features"].shape == (len(table), 4 * 8) and out["features"].dtype == np.float16
    assert int(out["features_epoch"]) == 2
    with torch.no_grad():
        logits = trainer.model.linear(torch.from_numpy(out["features"].astype(np.float32)))
    pred = trainer.predict(trainer.x_train, trainer.y_train)["pred"].numpy()
    assert (logits.argmax(1).numpy() == pred).mean() > 0.99      # float16 storage may flip a near tie
    again = Trainer(data, table["noisy_label"].to_numpy(), table["true_label"].to_numpy(), settings)
    again.fit(progress=False)
    after = record_to_arrays(again.record, table["true_label"], table["noisy_label"])
    for key in before:
        assert np.array_equal(before[key], after[key]), key
    score = suspicion_score("knn", {**before, **out})
    assert score.shape == (1, len(table)) and 0 <= score.min() and score.max() <= 1
    assert KNN_NEIGHBOURS == 10


def test_mixture_and_metrics_stages_name_the_knn_row_by_its_feature_epoch(tmp_path):
    """The stages fit every signal of a (hand-made) record; knn's single row is named epoch 4."""
    import pandas as pd

    from alsofilter.stages.metrics import metrics_file
    from alsofilter.stages.mixture import fit_mixture_file

    rng = np.random.default_rng(0)
    n, epochs = 200, 4
    true = rng.integers(0, 4, n)
    noisy = np.where(rng.random(n) < 0.3, (true + 1) % 4, true)
    centres = np.eye(4)[true] * 3 + rng.normal(0, 0.5, (n, 4))   # features cluster by the true class
    loss = np.where(noisy != true, 2.0, 0.2)[None, :] + rng.random((epochs, n))
    pred = np.where(rng.random((epochs, n)) < 0.8, true, noisy)
    record = {"loss": loss.astype(np.float32), "pred": pred.astype(np.int16), "noisy_label": noisy,
              "true_label": true, "is_noisy": noisy != true, "features": centres.astype(np.float16),
              "features_epoch": np.int64(epochs)}
    np.savez(tmp_path / "signals.npz", **record)
    names = fit_mixture_file(tmp_path / "signals.npz", tmp_path / "mixture.npz",
                             ["loss", "forgetting", "confidence", "variability", "knn", "weight"], 10, 5, 95)
    assert names == ["loss", "forgetting", "confidence", "variability", "knn"]   # no π: not an ALSO run
    table = metrics_file(tmp_path / "signals.npz", tmp_path / "mixture.npz", tmp_path / "metrics.csv")
    assert table[table["signal"] == "knn"]["epoch"].tolist() == [epochs]
    assert table[table["signal"] == "loss"]["epoch"].tolist() == [1, 2, 3, 4]
    knn = table[table["signal"] == "knn"].iloc[0]
    assert knn["auc"] > 0.9                          # neighbours by the true class out-vote a wrong label
    assert pd.read_csv(tmp_path / "metrics.csv")["signal"].nunique() == 5


def test_the_new_detectors_are_leaderboard_rows_and_downstream_names():
    import pathlib

    import yaml

    from alsofilter.config import check_config, leaderboard_detectors
    from alsofilter.detectors.decisions import parse_detector
    from alsofilter.names import detector_label

    repo = pathlib.Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config.yaml").read_text())
    # the demo with its overlay config/demo_instance.yaml, which adds the new signals
    config.update(yaml.safe_load((repo / "config" / "demo_instance.yaml").read_text()))
    names = leaderboard_detectors(config)
    for name in ("adamw.forgetting.bmm", "adamw.confidence.gmm", "also-min.variability.bmm",
                 "also-min-da.knn.gmm", "cleanlab_pixels"):
        assert name in names
        parse_detector(name)
    assert "adamw.weight.bmm" not in names
    config["downstream"] = {"detectors": ["adamw.knn.bmm", "also-min.forgetting.gmm"], "modes": ["drop"]}
    check_config(config)
    assert detector_label("adamw", "forgetting", "bmm") == "AdamW forgetting events + BMM"
    assert detector_label("also-min", "knn", "gmm") == "ALSO-min kNN label disagreement + GMM"
