"""Training loop: records, determinism, checkpoint/resume (incl. real SIGKILL/SIGTERM), divergence."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alsofilter.training.augment import Normalize, random_crop, random_flip
from alsofilter.data import load_digits_dataset
from alsofilter.data.noise import make_noisy_labels, write_noise_table
from alsofilter.training.job import record_to_arrays
from alsofilter.training.trainer import DivergenceError, Trainer, TrainConfig, batches

TINY = dict(width=4, epochs=2, batch_size=128, crop_padding=1, flip=True, device="cpu", seed=5, pi_lr=3e-3)


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


@pytest.fixture(scope="module")
def labels(digits):
    table = make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 0, "digits")
    return table["true_label"].to_numpy(), table["noisy_label"].to_numpy()


def _train(digits, labels, **overrides):
    torch.set_num_threads(1)
    trainer = Trainer(digits, labels[1], labels[0], TrainConfig(**{**TINY, **overrides}))
    trainer.fit(progress=False)
    return trainer


@pytest.mark.parametrize("method", ["adamw", "also-min", "also-max"])
def test_records_every_epoch(digits, labels, method):
    trainer = _train(digits, labels, method=method)
    arrays = record_to_arrays(trainer.record, *labels)
    n = digits.x_train.shape[0]
    assert arrays["loss"].shape == (2, n) and arrays["loss"].dtype == np.float32
    assert arrays["pred"].shape == (2, n)
    assert np.all(np.isfinite(arrays["loss"])) and np.all(arrays["loss"] >= 0)
    assert ("weight" in arrays) == method.startswith("also")
    if method.startswith("also"):
        assert np.allclose(arrays["weight"].sum(axis=1), 1.0, atol=1e-4)
        assert not np.allclose(arrays["weight"][-1], 1.0 / n)   # π moved
    hist = trainer.record.history
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert 0 <= h["test_acc"] <= 1
        assert abs(h["mem_correct"] + h["mem_memorized"] + h["mem_incorrect"] - 1) < 1e-9


def test_eval_loss_source_differs_from_train_pass(digits, labels):
    a = _train(digits, labels, method="adamw", epochs=1)
    b = _train(digits, labels, method="adamw", epochs=1, loss_source="eval")
    assert not np.allclose(a.record.arrays["loss"][0], b.record.arrays["loss"][0])


def test_same_seed_same_signals(digits, labels):
    a = record_to_arrays(_train(digits, labels, method="also-min").record, *labels)
    b = record_to_arrays(_train(digits, labels, method="also-min").record, *labels)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    c = record_to_arrays(_train(digits, labels, method="also-min", seed=6).record, *labels)
    assert not np.array_equal(a["loss"], c["loss"])


@pytest.mark.parametrize("method", ["adamw", "also-min"])
def test_checkpoint_mid_epoch_resumes_bit_identically(digits, labels, method, tmp_path):
    full = _train(digits, labels, method=method, epochs=3)
    torch.set_num_threads(1)
    cfg = TrainConfig(**{**TINY, "method": method, "epochs": 3})
    first = Trainer(digits, labels[1], labels[0], cfg)
    first.run_epoch()
    # interrupt the second epoch after 4 steps, as a SIGTERM would
    steps = {"n": 0}
    original = first.optimizer.step

    def counting_step(*args, **kwargs):
        steps["n"] += 1
        if steps["n"] == 4:
            first.stop_requested = True
        return original(*args, **kwargs)

    first.optimizer.step = counting_step
    ckpt = tmp_path / "ckpt.pt"
    assert first.fit(progress=False, checkpoint=ckpt) is None
    assert ckpt.exists() and first.epoch == 1
    second = Trainer(digits, labels[1], labels[0], cfg)
    second.load_checkpoint(ckpt)
    second.fit(progress=False)
    a = record_to_arrays(full.record, *labels)
    b = record_to_arrays(second.record, *labels)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_checkpoint_rejects_other_settings(digits, labels, tmp_path):
    trainer = Trainer(digits, labels[1], labels[0], TrainConfig(**{**TINY, "epochs": 1}))
    trainer.fit(progress=False, checkpoint=tmp_path / "c.pt")
    other = Trainer(digits, labels[1], labels[0], TrainConfig(**{**TINY, "epochs": 1, "lr": 0.5}))
    with pytest.raises(ValueError, match="lr"):
        other.load_checkpoint(tmp_path / "c.pt")


def test_divergence_names_run_epoch_and_step(digits, labels):
    trainer = Trainer(digits, labels[1], labels[0], TrainConfig(**{**TINY, "method": "also-min"}),
                      name="digits/also-min/test")
    trainer.optimizer.pi[5] = float("nan")
    with pytest.raises(DivergenceError, match=r"run digits/also-min/test: .* epoch 1, step 1 of"):
        trainer.fit(progress=False)


def test_bad_settings_are_named(digits, labels):
    with pytest.raises(ValueError, match="batch_size 5000 is larger"):
        Trainer(digits, labels[1], labels[0], TrainConfig(**{**TINY, "batch_size": 5000}))
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="method"):
        TrainConfig(method="sgd")
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"epoch": 3})


def test_batches_never_leave_a_single_sample():
    parts = batches(torch.arange(129), 64)
    assert [len(p) for p in parts] == [64, 65]
    assert torch.equal(torch.cat(parts), torch.arange(129))


def test_random_crop_matches_per_sample_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8, generator=g)
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    offsets = torch.randint(0, 5, (2, 16), generator=torch.Generator().manual_seed(1))
    padded = F.pad(x, (2, 2, 2, 2))
    for b in range(16):
        dy, dx = offsets[0, b].item(), offsets[1, b].item()
        assert torch.equal(out[b], padded[b, :, dy:dy + 8, dx:dx + 8])


def test_random_flip_and_normalize():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.uint8).view(2, 1, 2, 3).repeat(50, 1, 1, 1)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert torch.all(flipped | same) and 20 < flipped.sum() < 80
    norm = Normalize((0.5,), (0.25,), "cpu")
    assert torch.allclose(norm(torch.tensor([[[[0, 255]]]], dtype=torch.uint8)), torch.tensor([[[[-2.0, 2.0]]]]))


# ---------------------------------------------------------------- real process kills
JOB = """
import sys, logging
logging.basicConfig(level=logging.INFO)
from alsofilter.training.job import run_training_job
out = sys.argv[1]
run_training_job(out + "/noise.csv", {settings!r}, out + "/signals.npz", out + "/history.csv",
                 out + "/provenance.json", dataset="digits", checkpoint=out + "/ckpt/checkpoint.pt",
                 checkpoint_every=1, progress=False)
"""
JOB_SETTINGS = dict(method="also-min", width=4, epochs=5, batch_size=32, crop_padding=1, flip=True,
                    device="cpu", seed=3, pi_lr=3e-3)


def _job_dir(root: Path, name: str, digits) -> Path:
    out = root / name
    out.mkdir()
    write_noise_table(make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 1, "digits"), out / "noise.csv")
    return out


def _start(out: Path) -> subprocess.Popen:
    script = JOB.format(settings=JOB_SETTINGS)
    return subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(path: Path, proc: subprocess.Popen, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.time() < deadline, "timed out waiting for a checkpoint"
        time.sleep(0.05)


def _assert_same_outputs(a: Path, b: Path):
    assert (a / "signals.npz").read_bytes() == (b / "signals.npz").read_bytes()
    ha, hb = (np.genfromtxt(p / "history.csv", delimiter=",", names=True) for p in (a, b))
    for col in ha.dtype.names:
        if col != "seconds":
            assert np.array_equal(ha[col], hb[col], equal_nan=True), col


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits):
    """An uninterrupted job."""
    reference = _job_dir(tmp_path_factory.mktemp("jobs"), "reference", digits)
    proc = _start(reference)
    assert proc.wait(timeout=300) == 0, proc.stdout.read().decode()
    assert not (reference / "ckpt" / "checkpoint.pt").exists()   # removed once outputs exist
    return reference


def test_sigkill_mid_run_resumes_bit_identical(tmp_path, digits, reference):

    killed = _job_dir(tmp_path, "killed", digits)
    proc = _start(killed)
    _wait_for(killed / "ckpt" / "checkpoint.pt", proc)
    time.sleep(0.2)                     # somewhere inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "signals.npz").exists()
    assert not list(killed.glob("*.tmp-*"))
    proc = _start(killed)
    log = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, log
    assert "resumed from" in log
    _assert_same_outputs(reference, killed)


def test_sigterm_writes_checkpoint_and_exits_cleanly(tmp_path, digits, reference):
    out = _job_dir(tmp_path, "term", digits)
    proc = _start(out)
    _wait_for(out / "ckpt" / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 143, log
    assert "SIGTERM received" in log and "Traceback" not in log
    state = torch.load(out / "ckpt" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] >= 1
    proc = _start(out)
    assert proc.wait(timeout=300) == 0
    _assert_same_outputs(reference, out)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 3 and prov["device"] == "cpu" and "versions" in prov


def test_fast_path_bf16_channels_last_agrees_with_fp32(digits, labels):
    """bf16 autocast + channels-last train the same model to a similar separation."""
    from sklearn.metrics import roc_auc_score

    is_noisy = labels[0] != labels[1]
    settings = dict(method="also-min", epochs=4, width=8, crop_padding=0, flip=False, batch_size=64)
    plain = _train(digits, labels, **settings)
    fast = _train(digits, labels, speed="fast", **settings)
    assert fast.backends["precision"] == "bf16" and fast.backends["channels_last"]
    assert fast.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.record.arrays["weight"], fast.record.arrays["weight"]):
        auc_plain, auc_fast = roc_auc_score(is_noisy, -a), roc_auc_score(is_noisy, -b)
        assert abs(auc_plain - auc_fast) < 0.05, (auc_plain, auc_fast)
    assert not np.array_equal(plain.record.arrays["loss"][-1], fast.record.arrays["loss"][-1])


HANGING_JOB = """
import sys, threading, logging
from alsofilter.training import trainer as training
from alsofilter.logs import setup_logging
from alsofilter.training.job import run_training_job
out = sys.argv[1]
setup_logging(out + "/train.log")
calls = 0
real_augment = training.augment_batch

def augment_that_hangs(*args):
    global calls
    calls += 1
    if calls == {hang_at}:
        threading.Event().wait()        # hangs forever, like a job stuck on a broken lock
    return real_augment(*args)

training.augment_batch = augment_that_hangs
run_training_job(out + "/noise.csv", {settings!r}, out + "/signals.npz", out + "/history.csv",
                 out + "/provenance.json", dataset="digits", checkpoint=out + "/ckpt/checkpoint.pt",
                 checkpoint_every=1, progress=False, stall_timeout={timeout}, log_path=out + "/train.log",
                 name="digits/hang-test")
"""


def test_hung_job_dumps_stacks_names_the_step_and_fails(tmp_path, digits, reference):
    """A training job made to hang in its 2nd epoch is ended by the stall watchdog: exit 124, the
    log names run, epoch and batch and holds every thread's stack; a rerun resumes and finishes."""
    out = _job_dir(tmp_path, "hang", digits)
    steps_per_epoch = len(batches(torch.arange(len(digits.y_train)), JOB_SETTINGS["batch_size"]))
    hang_at = steps_per_epoch + 3                     # epoch 2, batch 3
    script = HANGING_JOB.format(settings=JOB_SETTINGS, hang_at=hang_at, timeout=2)
    started = time.time()
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 124, proc.stderr[-3000:]
    log = (out / "train.log").read_text()
    for text in (proc.stderr, log):
        assert (f"STALLED: run digits/hang-test, epoch 2 of 5, training batch 3 of {steps_per_epoch}: "
                "no progress for") in text, text[-3000:]
        assert "augment_that_hangs" in text and "train_epoch" in text      # the hung thread's stack
        assert "stall-watchdog" in text or "Thread 0x" in text             # every thread
    assert time.time() - started < 120
    assert not (out / "signals.npz").exists()
    state = torch.load(out / "ckpt" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1                          # epoch 1 is kept
    proc = _start(out)                                  # the same job without the hang
    log = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, log
    assert "resumed from" in log
    _assert_same_outputs(reference, out)


# ------------------------------------------------------------------ checkpoints that cannot resume (issue 19)
def _job(out: Path, digits, **options):
    from alsofilter.training.job import run_training_job

    return run_training_job(out / "noise.csv", {**TINY, "epochs": 1}, out / "signals.npz", out / "history.csv",
                            out / "provenance.json", dataset="digits", data=digits,
                            checkpoint=out / "ckpt" / "checkpoint.pt", progress=False, stall_timeout=0, **options)


@pytest.mark.parametrize("content", [os.urandom(5000), b"", b"PK\x03\x04 truncated zip"])
def test_unreadable_checkpoint_is_moved_aside_and_the_run_starts_fresh(tmp_path, digits, content, caplog):
    out = _job_dir(tmp_path, "job", digits)
    (out / "ckpt").mkdir()
    (out / "ckpt" / "checkpoint.pt").write_bytes(content)
    with caplog.at_level("WARNING"):
        _job(out, digits)
    assert (out / "history.csv").exists() and not (out / "ckpt" / "checkpoint.pt").exists()
    aside = list((out / "ckpt").glob("checkpoint.pt.refused-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content       # nothing lost, out of the way
    text = caplog.text
    assert "checkpoint.pt" in text and "cannot be read" in text and "weights_only" not in text
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["resumed"] is None and "cannot be read" in provenance["refused_checkpoint"]["reason"]


def test_checkpoint_from_another_device_kind_resumes_with_a_reseeded_generator(tmp_path, digits, labels):
    torch.set_num_threads(1)
    cfg = TrainConfig(**{**TINY, "epochs": 2})
    first = Trainer(digits, labels[1], labels[0], cfg)
    first.run_epoch()
    state = first.state_dict()
    state["device_type"] = "cuda"
    state["generator"] = torch.zeros(16, dtype=torch.uint8)      # a CUDA generator's state: seed + offset
    torch.save(state, tmp_path / "cuda.pt")
    second = Trainer(digits, labels[1], labels[0], cfg)
    second.load_checkpoint(tmp_path / "cuda.pt")
    assert second.epoch == 1 and second.resumed["from_device"] == "cuda"
    assert second.resumed["generator"].startswith("re-seeded with")
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.fit(progress=False) is not None and second.epoch == 2
    # deterministic: the same checkpoint resumed twice gives the same run
    third = Trainer(digits, labels[1], labels[0], cfg)
    third.load_checkpoint(tmp_path / "cuda.pt")
    third.fit(progress=False)
    a, b = (record_to_arrays(t.record, *labels) for t in (second, third))
    assert all(np.array_equal(a[k], b[k]) for k in a)
