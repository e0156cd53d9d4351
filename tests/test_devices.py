"""One GPU per training job (issue 19): slots held for a job's lifetime, tested with pretend GPUs;
the GPUs counted as CUDA counts them, and no silent unpinned run where a GPU is required (issue 26)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from alsofilter.training.devices import (NoGPUError, cuda_visible_devices, driver_device_count, gpu_slot,
                                        gpu_slot_count, jobs_per_gpu, visible_gpus)

HOLDER = """
import os, sys, time
from alsofilter.training.devices import gpu_slot
with gpu_slot() as slot:
    print(os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
    time.sleep(600)
"""


def _env(tmp_path, count=2, per_gpu=1):
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES",
                                                           "ALSOFILTER_GPU_SLOTS")}
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


def test_without_a_gpu_nothing_is_pinned_unless_one_is_required(tmp_path):
    with gpu_slot(_env(tmp_path, count=0)) as slot:          # a CPU run (device auto) goes on
        assert slot is None
    with pytest.raises(NoGPUError, match="no GPU is visible: ALSOFILTER_GPU_COUNT=0"):
        with gpu_slot(_env(tmp_path, count=0), required=True):
            pass
    with pytest.raises(NoGPUError, match="CUDA_VISIBLE_DEVICES='-1' hides all 2"):
        with gpu_slot({**_env(tmp_path, count=2), "CUDA_VISIBLE_DEVICES": "-1"}, required=True):
            pass
    # the one GPU CUDA_VISIBLE_DEVICES leaves the job: required and found
    with gpu_slot({**_env(tmp_path, count=1), "CUDA_VISIBLE_DEVICES": "3"}, required=True, timeout=5) as slot:
        assert slot["devices"] == ["3"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    with pytest.raises(ValueError, match="ALSOFILTER_JOBS_PER_GPU"):
        jobs_per_gpu({"ALSOFILTER_JOBS_PER_GPU": "two"})
    with pytest.raises(ValueError, match="ALSOFILTER_GPU_COUNT='two'"):
        visible_gpus({"ALSOFILTER_GPU_COUNT": "two"})


@pytest.mark.parametrize("count, visible, expected", [
    (4, None, ["0", "1", "2", "3"]), (2, "2,3", ["2", "3"]), (2, "3,0", ["3", "0"]), (2, " 1 , 2 ", ["1", "2"]),
    (1, "2,7,0", ["2"]), (4, "", []), (4, "-1", []), (4, "1,-1,2", ["1"]), (4, "0,,1", ["0"]), (4, "1,1", []),
    (0, "0,1", []), (0, None, [])])
def test_pretend_gpus_seen_through_cuda_visible_devices(count, visible, expected):
    """A pretend driver answer (ALSOFILTER_GPU_COUNT, what torch.cuda.device_count() says) named as
    CUDA numbers them: the entries of CUDA_VISIBLE_DEVICES in order, up to the first empty or
    negative one, none where one repeats (as torch parses it); 0 ... N-1 where it is unset."""
    env = {"ALSOFILTER_GPU_COUNT": str(count), "ALSOFILTER_JOBS_PER_GPU": "3"}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    assert visible_gpus(env) == expected
    assert gpu_slot_count(env) == 3 * len(expected)


def test_cuda_visible_devices_takes_uuids_as_the_driver_does():
    assert cuda_visible_devices({}) is None
    assert cuda_visible_devices({"CUDA_VISIBLE_DEVICES": "GPU-8f2a,GPU-11bc"}) == ["GPU-8f2a", "GPU-11bc"]
    assert cuda_visible_devices({"CUDA_VISIBLE_DEVICES": "MIG-GPU-8f2a/1/0"}) == ["MIG-GPU-8f2a/1/0"]


def test_the_driver_is_asked_without_loading_cuda_here():
    """The count comes from the CUDA driver in a child process; on this machine (no driver) it is
    0 with the reason, whatever CUDA_VISIBLE_DEVICES says, and neither torch nor CUDA is loaded
    into this process by asking."""
    if os.path.exists("/proc/driver/nvidia/version"):
        pytest.skip("a GPU driver is here: this checks the count without one")
    code = ("import sys; from alsofilter.training.devices import driver_device_count, visible_gpus; "
            "print(driver_device_count(), visible_gpus({'CUDA_VISIBLE_DEVICES': '0'}), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("(0, 'the CUDA driver library libcuda.so.1 cannot be loaded") and out.rstrip().endswith("[] False"), out
    count, why = driver_device_count({"CUDA_VISIBLE_DEVICES": "0"})
    assert count == 0 and "libcuda.so.1" in why


def test_each_slurm_job_has_slots_of_its_own(tmp_path):
    """Under SLURM the default slot folder is per job: two jobs on one node, each given its GPU by
    SLURM (one pretend GPU each), do not wait for each other; a second process of the same job does."""
    env = {**_env(tmp_path, count=1), "TMPDIR": str(tmp_path)}
    del env["ALSOFILTER_GPU_SLOTS"]
    first, a = _holder({**env, "SLURM_JOB_ID": "101"})
    second, b = _holder({**env, "SLURM_JOB_ID": "102"})
    try:
        assert a == b == "0"
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"alsofilter-gpu-slots-{os.getuid()}-slurm{j}"
                                                             for j in (101, 102)]
        waiter = subprocess.run([sys.executable, "-c", "from alsofilter.training.devices import gpu_slot\n"
                                 "with gpu_slot(timeout=0.5, poll=0.1): pass"],
                                env={**env, "SLURM_JOB_ID": "101"}, capture_output=True, text=True)
        assert waiter.returncode != 0 and "no free GPU slot" in waiter.stderr, waiter.stderr[-2000:]
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(timeout=30)


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


def test_a_training_job_on_cuda_without_a_gpu_fails_before_training(tmp_path, monkeypatch):
    """device cuda and no GPU: a NoGPUError naming why, not an unpinned run (device auto trains on
    the CPU instead, as every pipeline test here does)."""
    from alsofilter.data import load_digits_dataset
    from alsofilter.data.noise import make_noisy_labels, write_noise_table
    from alsofilter.training.job import run_training_job

    for key, value in _env(tmp_path, count=0).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    digits = load_digits_dataset()
    write_noise_table(make_noisy_labels(digits.y_train, 10, "symmetric", 0.4, 1, "digits"), tmp_path / "noise.csv")
    settings = dict(width=4, epochs=1, batch_size=256, crop_padding=0, flip=False, device="cuda", seed=1)
    with pytest.raises(NoGPUError, match="required but no GPU is visible"):
        run_training_job(tmp_path / "noise.csv", settings, tmp_path / "s.npz", tmp_path / "h.csv", tmp_path / "p.json",
                         dataset="digits", data=digits, progress=False, stall_timeout=0)
    assert not (tmp_path / "s.npz").exists()
