"""One GPU per training job on a multi-GPU machine, and several jobs per GPU where they fit.

Every job that opens ``cuda`` would use GPU 0. On a workstation, :func:`gpu_slot` pins a
training job to a device of its own for its lifetime: it holds an exclusive ``flock`` on one slot
file per (device, k) for k < ``jobs_per_gpu``, in a folder shared by the machine's jobs, and sets
``CUDA_VISIBLE_DEVICES`` to that device before CUDA is initialised. The kernel releases the lock
when the process ends, however it ends, so a killed job gives its slot back. Free slots are taken
spreading first (every device's first slot before any second one), then packing.

Under SLURM (``SLURM_JOB_ID`` set) nothing is done: SLURM binds each job's GPU itself. Settings,
read from the environment so that the Snakemake profile and the jobs agree (the profile's
``resources: gpu`` is the number of slots, ``profiles/local``):

``ALSOFILTER_JOBS_PER_GPU``  training jobs sharing one GPU (default 1; a ResNet-18 at batch 64
                             uses a fraction of an H100, so 2–3 fit)
``ALSOFILTER_GPU_COUNT``     pretend this many GPUs (tests; a machine whose driver is not seen)
``ALSOFILTER_GPU_SLOTS``     the folder of the slot files (default: in the temp folder, per user)
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping


def jobs_per_gpu(env: Mapping[str, str] = os.environ) -> int:
    """``ALSOFILTER_JOBS_PER_GPU`` (default 1); a clear error for anything but a positive integer."""
    value = env.get("ALSOFILTER_JOBS_PER_GPU", "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ALSOFILTER_JOBS_PER_GPU={value!r}: must be a positive integer")
    return int(value)


def visible_gpus(env: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs jobs may be pinned to, as ``CUDA_VISIBLE_DEVICES`` entries: ``ALSOFILTER_GPU_COUNT``
    pretend devices, else those ``CUDA_VISIBLE_DEVICES`` lists, else every GPU the NVIDIA driver
    lists."""
    if env.get("ALSOFILTER_GPU_COUNT", "").strip():
        return [str(i) for i in range(int(env["ALSOFILTER_GPU_COUNT"]))]
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and not d.strip().startswith("-")]
    return [str(i) for i in range(len(glob.glob("/proc/driver/nvidia/gpus/*")))]


def slots_dir(env: Mapping[str, str] = os.environ) -> Path:
    folder = env.get("ALSOFILTER_GPU_SLOTS") or os.path.join(tempfile.gettempdir(), f"alsofilter-gpu-slots-{os.getuid()}")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def try_slot(folder: Path, devices: list[str], per_gpu: int):
    """Lock the first free slot (spreading before packing); ``(device, k, open file)`` or None."""
    for k in range(per_gpu):
        for device in devices:
            fh = open(folder / f"gpu{device}-{k}.lock", "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                fh.close()
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    continue
                raise
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            return device, k, fh
    return None


@contextlib.contextmanager
def gpu_slot(env: Mapping[str, str] | None = None, timeout: float | None = None,
             poll: float = 1.0) -> Iterator[dict | None]:
    """Hold a GPU slot for the block and point ``CUDA_VISIBLE_DEVICES`` at its device.

    Yields ``{"device", "slot", "jobs_per_gpu", "devices"}`` (for provenance), or None where
    nothing is pinned (under SLURM, or no GPU). Waits for a free slot (``timeout`` seconds at
    most, then TimeoutError; None: as long as it takes — Snakemake starts no more training jobs
    than the profile's ``gpu`` slots, so a wait is short)."""
    env = os.environ if env is None else env
    devices = visible_gpus(env)
    if env.get("SLURM_JOB_ID") or not devices:
        yield None
        return
    per_gpu = jobs_per_gpu(env)
    folder = slots_dir(env)
    start = time.monotonic()
    while (held := try_slot(folder, devices, per_gpu)) is None:
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"no free GPU slot of {len(devices)} GPU(s) x {per_gpu} in {folder} after {timeout:.0f} s")
        time.sleep(poll)
    device, k, fh = held
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    try:
        yield {"device": device, "slot": k, "jobs_per_gpu": per_gpu, "devices": devices}
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        fh.close()   # releases the lock (the kernel does the same when the process dies)
