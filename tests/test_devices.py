"""One GPU per training job (issue 19): slots held for a job's lifetime, tested with pretend GPUs."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from alsofilter.training.devices import gpu_slot, jobs_per_gpu, visible_gpus

HOLDER = """
import os, sys, time
from alsofilter.training.devices import gpu_slot
with gpu_slot() as slot:
    print(os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
    time.sleep(600)
"""


def _env(tmp_path, count=2, per_gpu=1):
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")}
    env.update(ALSOFILTER_GPU_COUNT=str(count), ALSOFILTER_JOBS_PER_GPU=str(per_gpu),
               ALSOFILTER_GPU_SLOTS=str(tmp_path / "slots"))
    return env


def _holder(env):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE, text=True)
    device = proc.stdout.readline().strip()
    assert device, "the holder got no slot"
    return proc, device


def test_concurrent_jobs_get_different_gpus_a_third_waits_and_a_killed_job_gives_its_slot_back(tmp_path):
    env = _env(tmp_path, count=2, per_gpu=1)
    first, a = _holder(env)
    second, b = _holder(env)
    try:
        assert {a, b} == {"0", "1"}
        with pytest.raises(TimeoutError, match="no free GPU slot"):       # the third waits
            with gpu_slot(env, timeout=0.5, poll=0.1):
                pass
        first.kill()                                                        # SIGKILL: no cleanup code runs
        first.wait(timeout=30)
        with gpu_slot(env, timeout=10, poll=0.1) as slot:
            assert slot["device"] == a and os.environ["CUDA_VISIBLE_DEVICES"] == a
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(timeout=30)


def test_jobs_share_a_gpu_when_configured(tmp_path):
    env = _env(tmp_path, count=2, per_gpu=2)
    held = [_holder(env) for _ in range(3)]
    try:
        devices = sorted(d for _, d in held)
        assert devices == ["0", "0", "1"] or devices == ["0", "1", "1"]    # spread first, then packed
        with gpu_slot(env, timeout=5, poll=0.1) as slot:                    # the fourth slot
            assert slot["slot"] == 1 and slot["jobs_per_gpu"] == 2
    finally:
        for proc, _ in held:
            proc.kill()
            proc.wait(timeout=30)


def test_nothing_is_pinned_under_slurm_or_without_gpus(tmp_path):
    with gpu_slot({**_env(tmp_path), "SLURM_JOB_ID": "42"}) as slot:
        assert slot is None
    with gpu_slot({**_env(tmp_path, count=0)}) as slot:
        assert slot is None
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    with pytest.raises(ValueError, match="ALSOFILTER_JOBS_PER_GPU"):
        jobs_per_gpu({"ALSOFILTER_JOBS_PER_GPU": "two"})


def test_a_training_job_records_its_slot(tmp_path, monkeypatch):
    import json

    from alsofilter.data import load_digits_dataset
    from alsofilter.data.noise import make_noisy_labels, write_noise_table
    from alsofilter.training.job import run_training_job

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for key, value in _env(tmp_path, count=2).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    digits = load_digits_dataset()
    write_noise_table(make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 1, "digits"), tmp_path / "noise.csv")
    settings = dict(width=4, epochs=1, batch_size=256, crop_padding=0, flip=False, device="auto", seed=1)
    run_training_job(tmp_path / "noise.csv", settings, tmp_path / "s.npz", tmp_path / "h.csv", tmp_path / "p.json",
                     dataset="digits", data=digits, progress=False, stall_timeout=0)
    slot = json.loads((tmp_path / "p.json").read_text())["gpu_slot"]
    assert slot["device"] in ("0", "1") and slot["jobs_per_gpu"] == 1
    assert "CUDA_VISIBLE_DEVICES" not in os.environ                # given back with the slot
