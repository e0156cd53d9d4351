"""One GPU per training job on a multi-GPU machine, and several jobs per GPU where they fit.

Every job that opens ``cuda`` would use GPU 0. On a workstation, :func:`gpu_slot` pins a
training job to a device of its own for its lifetime: it holds an exclusive ``flock`` on one slot
file per (device, k) for k < ``jobs_per_gpu``, in a folder shared by the machine's jobs, and sets
``CUDA_VISIBLE_DEVICES`` to that device before CUDA is initialised. The kernel releases the lock
when the process ends, however it ends, so a killed job gives its slot back. Free slots are taken
spreading first (every device's first slot before any second one), then packing.

The GPUs are counted as torch counts them (:func:`visible_gpus`): the CUDA driver's device count
(``cuDeviceGetCount``, which honours ``CUDA_VISIBLE_DEVICES``), asked in a child process so that
neither this process's CUDA nor torch is initialised by the count (a container without
``/proc/driver/nvidia/gpus`` still has its GPUs counted). Where a GPU is required and none is
found, :func:`gpu_slot` raises :class:`NoGPUError` instead of running unpinned.

Under SLURM (``SLURM_JOB_ID`` set) each job has a slot folder of its own: SLURM gives each job its
GPUs, and two jobs on one node must not queue for each other's slots; the processes of one job
(an interactive allocation running several) still take turns. Settings, read from the environment
so that the Snakemake profile and the jobs agree (the profile's ``resources: gpu`` is
:func:`gpu_slot_count`, ``profiles/local``):

``ALSOFILTER_JOBS_PER_GPU``  training jobs sharing one GPU (default 1; a ResNet-18 at batch 64
                             uses a fraction of an H100, so 2–3 fit)
``ALSOFILTER_GPU_COUNT``     the driver's answer, given instead of asked: the GPUs torch sees
                             (``torch.cuda.device_count()``), the first N entries of
                             ``CUDA_VISIBLE_DEVICES`` where that is set, else ``0`` … ``N-1``
                             (tests: pretend GPUs; a machine whose driver is not found)
``ALSOFILTER_GPU_SLOTS``     the folder of the slot files (default: in the temp folder, per user,
                             and per job under SLURM)
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

#: seconds the driver query may take (initialising the driver of an 8-GPU machine without
#: persistence mode takes seconds); past it, no GPU is counted
DRIVER_QUERY_TIMEOUT_S = 120

# Run in a child process (``python -I -S -c``): the CUDA driver API through ctypes, as the CUDA
# runtime (torch.cuda.device_count) asks it. Prints "<count> <why none, if none>".
_DRIVER_QUERY = """
import ctypes, sys
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as err:
    print(0, "the CUDA driver library libcuda.so.1 cannot be loaded:", err); sys.exit()
result = cuda.cuInit(0)
if result != 0:
    print(0, f"cuInit failed with CUresult {result} (100: no CUDA device)"); sys.exit()
count = ctypes.c_int(0)
result = cuda.cuDeviceGetCount(ctypes.byref(count))
if result != 0:
    print(0, f"cuDeviceGetCount failed with CUresult {result}"); sys.exit()
print(count.value, "" if count.value else "the CUDA driver reports no device")
"""


class NoGPUError(RuntimeError):
    """A GPU slot was required and no GPU is visible."""


def jobs_per_gpu(env: Mapping[str, str] = os.environ) -> int:
    """``ALSOFILTER_JOBS_PER_GPU`` (default 1); a clear error for anything but a positive integer."""
    value = env.get("ALSOFILTER_JOBS_PER_GPU", "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ALSOFILTER_JOBS_PER_GPU={value!r}: must be a positive integer")
    return int(value)


def cuda_visible_devices(env: Mapping[str, str] = os.environ) -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` as the CUDA driver reads it: its entries (indices or ``GPU-``/``MIG-``
    UUIDs) up to the first empty or negative one (``-1`` hides every GPU); none at all where an
    entry repeats (as torch parses it). None where the variable is unset (every GPU visible)."""
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries: list[str] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        if entry in entries:
            return []
        entries.append(entry)
    return entries


def driver_device_count(env: Mapping[str, str] = os.environ) -> tuple[int, str]:
    """``(count, why none)``: the GPUs the CUDA driver shows a process with this ``env`` (its
    ``CUDA_VISIBLE_DEVICES`` applied by the driver), asked in a child process; ``(0, reason)``
    where there is no driver, no device, or the query fails."""
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _DRIVER_QUERY], env=dict(env),
                              capture_output=True, text=True, timeout=DRIVER_QUERY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 0, f"the CUDA driver query did not answer in {DRIVER_QUERY_TIMEOUT_S} s"
    count, _, why = done.stdout.strip().partition(" ")
    if done.returncode != 0 or not count.isdigit():
        return 0, f"the CUDA driver query failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
    return int(count), why


def _pretend_count(env: Mapping[str, str]) -> int | None:
    value = env.get("ALSOFILTER_GPU_COUNT", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"ALSOFILTER_GPU_COUNT={value!r}: must be a non-negative integer")
    return int(value)


def gpu_inventory(env: Mapping[str, str] = os.environ) -> tuple[list[str], str]:
    """:func:`visible_gpus`, and why the list is empty where it is ('' otherwise)."""
    pretend = _pretend_count(env)
    count, why = (pretend, f"ALSOFILTER_GPU_COUNT={pretend}") if pretend is not None else driver_device_count(env)
    entries = cuda_visible_devices(env)
    # the driver numbers the devices CUDA_VISIBLE_DEVICES selects in its order; count is how many
    visible = [str(i) for i in range(count)] if entries is None else entries[:count]
    if not visible and count:
        why = f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES')!r} hides all {count}"
    return visible, "" if visible else why


def visible_gpus(env: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs jobs may be pinned to, as ``CUDA_VISIBLE_DEVICES`` entries, counted as torch counts
    them: N = the CUDA driver's device count (:func:`driver_device_count`, or
    ``ALSOFILTER_GPU_COUNT`` where set), named by the first N entries of ``CUDA_VISIBLE_DEVICES``
    (:func:`cuda_visible_devices`) where that is set, else ``0`` … ``N-1``."""
    return gpu_inventory(env)[0]


def gpu_slot_count(env: Mapping[str, str] = os.environ) -> int:
    """GPU slots of this machine: :func:`visible_gpus` times :func:`jobs_per_gpu` (the local
    profile's ``resources: gpu``)."""
    return len(visible_gpus(env)) * jobs_per_gpu(env)


def slots_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The folder of the slot files: ``ALSOFILTER_GPU_SLOTS``, else one per user in the temp
    folder, and per job under SLURM (each SLURM job has GPUs of its own)."""
    job = env.get("SLURM_JOB_ID", "").strip()
    default = f"alsofilter-gpu-slots-{os.getuid()}" + (f"-slurm{job}" if job else "")
    folder = env.get("ALSOFILTER_GPU_SLOTS") or os.path.join(tempfile.gettempdir(), default)
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def try_slot(folder: Path, devices: list[str], per_gpu: int):
    """Lock the first free slot (spreading before packing); ``(device, k, open file)`` or None."""
    for k in range(per_gpu):
        for device in devices:
            fh = open(folder / f"gpu{device.replace('/', '_')}-{k}.lock", "a+")   # MIG-GPU-…/1/0
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
             poll: float = 1.0, *, required: bool = False) -> Iterator[dict | None]:
    """Hold a GPU slot for the block and point ``CUDA_VISIBLE_DEVICES`` at its device.

    Yields ``{"device", "slot", "jobs_per_gpu", "devices"}`` (for provenance). Where no GPU is
    visible: None (nothing pinned; a CPU run, e.g. device ``auto`` without a GPU), or, with
    ``required`` (device ``cuda``; a measurement of packed runs), :class:`NoGPUError` naming why.
    Waits for a free slot (``timeout`` seconds at most, then TimeoutError; None: as long as it
    takes — Snakemake starts no more training jobs than the profile's ``gpu`` slots, so a wait is
    short)."""
    env = os.environ if env is None else env
    devices, why = gpu_inventory(env)
    if not devices:
        if required:
            raise NoGPUError(f"a GPU slot is required but no GPU is visible: {why}. Without a GPU "
                             "use device cpu (or auto); where torch sees GPUs that this count "
                             "misses, set ALSOFILTER_GPU_COUNT to their number")
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
