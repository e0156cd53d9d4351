"""Everything one GPU session should measure, in one run (sized for under 8 minutes on one H100;
not yet run on one), one file out.

1. **Whole epochs, what the configs run.** For AdamW and ALSO-min (extragradient), ``speed: exact``
   (fp32, TF32 off) and ``speed: fast`` (bf16 autocast, channels-last, TF32): one epoch of the
   project's loop (:meth:`Trainer.run_epoch`: training, per-sample bookkeeping, the clean-test
   evaluation, the one host transfer) against one epoch of a reference loop written the way the
   authors wrote theirs (github Kirill2187/2025-Project-175): a ``DataLoader`` with 8 workers and
   per-sample crop/flip/normalise transforms, a ``.item()`` per step for the running loss, an
   evaluation pass through a ``DataLoader`` too. Both loops use the same optimizer objects (torch's
   AdamW, or this project's ALSO, with the same ``fused`` choice), model, initialisation and data,
   and the same precision; each is warmed up for some steps first (cuDNN autotuning, workers).
   It also counts the host synchronisations in 20 of the project's training steps (CUDA's sync
   debug mode; by design there are none before the epoch's end).
2. **Packing.** One paper scenario (ResNet-18 width 64, batch 64, ALSO-min extragradient, ``exact``)
   trained by ``--runs`` concurrent processes for ``--epochs`` epochs, each holding a GPU slot
   (:mod:`alsofilter.training.devices`), first with ``ALSOFILTER_JOBS_PER_GPU=1`` (the runs queue
   for the GPU, as unpacked jobs would) and then with ``ALSOFILTER_JOBS_PER_GPU=<runs>`` (packed):
   the wall time of all runs and each run's seconds per epoch.

Data: random uint8 images of CIFAR-10's shape (speed does not depend on the pixels), so no data
travels to the GPU machine. Output: ``--out`` (default ``$OUT/gpu_session.json`` or
``gpu_session.json``) with the environment, every row and the command, written after each part.

On the GPU machine (python3 there has torch; jsonschema travels as wheels, see BENCHMARKS.md)::

    PYTHONUNBUFFERED=1 PYTHONPATH=src:. python3 -m benchmarks.gpu_session

On a CPU, ``--smoke`` runs the same code on tiny sizes in a minute (the test suite does).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from alsofilter.config.settings import TrainConfig
from alsofilter.data import ImageDataset, channel_stats
from alsofilter.io import write_json_atomic
from alsofilter.training.also import ALSO, fused_adam
from alsofilter.training.trainer import Trainer
from benchmarks.bench_train import ReferenceDataset, environment

#: sizes of a GPU session, and of the CPU check (which skips bf16: ~10x slower than fp32 on a CPU)
SIZES = {"full": dict(train=20_000, test=5_000, width=64, warmup=30, workers=8, runs=3, epochs=2,
                      speeds=("exact", "fast")),
         "smoke": dict(train=128, test=32, width=2, warmup=1, workers=2, runs=2, epochs=1, speeds=("exact",))}


def random_dataset(train: int, test: int, seed: int = 0) -> ImageDataset:
    """Random uint8 CIFAR-shaped images (3×32×32) and labels, with a test split."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(train + test, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=train + test).astype(np.int64)
    mean, std = channel_stats(x[:train])
    return ImageDataset(name="random-cifar", x_train=x[:train], y_train=y[:train], x_test=x[train:],
                        y_test=y[train:], num_classes=10, class_names=[str(i) for i in range(10)],
                        mean=mean, std=std)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def project_epoch(data: ImageDataset, config: TrainConfig, warmup: int) -> dict:
    """Seconds of one :meth:`Trainer.run_epoch` (training + evaluation), after ``warmup`` steps."""
    trainer = Trainer(data, data.y_train, data.y_train, config, name="gpu-session/project")
    if warmup:
        train_steps(trainer, warmup)
    _sync(trainer.device)
    start = time.perf_counter()
    row = trainer.run_epoch()
    _sync(trainer.device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "test_acc": row["test_acc"], "backends": trainer.backends,
            "host_syncs_in_training": host_syncs(trainer)}


def host_syncs(trainer: Trainer, steps: int = 20) -> int | None:
    """How many times ``steps`` training steps make the host wait for the GPU (CUDA's sync debug
    mode warns at each); the loop's design is none until the epoch's end. None on a CPU."""
    if trainer.device.type != "cuda":
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_steps(trainer, steps)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def train_steps(trainer: Trainer, steps: int) -> None:
    """Run ``steps`` training steps of a fresh partial epoch, then drop that epoch (the trainer's
    own stop flag, set from a wrapper around ``trainer.normalize``, called once per step)."""
    calls = {"n": 0}
    inner = trainer.normalize

    def counting(x):
        calls["n"] += 1
        if calls["n"] >= steps:
            trainer.stop_requested = True
        return inner(x)

    trainer.normalize, trainer._partial = counting, None
    try:
        trainer.train_epoch()
    finally:
        trainer.normalize, trainer.stop_requested, trainer._partial = inner, False, None


def reference_epoch(data: ImageDataset, config: TrainConfig, warmup: int, workers: int) -> dict:
    """Seconds of one epoch of the authors-style loop (training + evaluation), after ``warmup`` steps."""
    from alsofilter.training.models import build_model
    from alsofilter.training.speed import resolved_precision

    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config.arch, 10, 3, config.width).to(device)
    bf16 = resolved_precision(config) == "bf16"
    if config.method == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                      eps=config.adam_eps, fused=fused_adam(model.parameters()))
    else:
        optimizer = ALSO(model.parameters(), data.num_train, lr=config.lr, weight_decay=config.weight_decay,
                         pi_lr=1e-5, pi_decay=config.pi_decay, also_mode=config.also_mode, device=device,
                         adam_eps=config.adam_eps)
    cuda = device.type == "cuda"
    train = torch.utils.data.DataLoader(
        ReferenceDataset(data.x_train, data.y_train, data.mean, data.std, config.crop_padding, config.flip),
        batch_size=config.batch_size, shuffle=True, num_workers=workers, pin_memory=cuda, drop_last=True)
    test = torch.utils.data.DataLoader(
        ReferenceDataset(data.x_test, data.y_test, data.mean, data.std, 0, False),
        batch_size=config.eval_batch_size, num_workers=workers, pin_memory=cuda)

    def forward(x):
        if bf16:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return model(x).float()
        return model(x)

    def step(x, y, idx) -> float:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if config.method == "adamw":
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(forward(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()                                   # the authors' running loss
        ce, _ = optimizer.step(idx.to(device), lambda: (F.cross_entropy(forward(x), y, reduction="none"), None))
        return ce.mean().item()

    model.train()
    for i, (x, y, idx) in enumerate(train):
        if i >= warmup:
            break
        step(x, y, idx)
    _sync(device)
    start = time.perf_counter()
    running = 0.0
    model.train()
    for x, y, idx in train:
        running += step(x, y, idx)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y, _ in test:
            correct += (forward(x.to(device)).argmax(1).cpu() == y).sum().item()
    _sync(device)
    return {"seconds": time.perf_counter() - start, "test_acc": correct / data.num_test}


PACKED_RUN = """
import json, sys, time, torch
from alsofilter.config.settings import TrainConfig
from alsofilter.training.devices import gpu_slot
from alsofilter.training.trainer import Trainer
from benchmarks.gpu_session import random_dataset
train, test, width, epochs = (int(v) for v in sys.argv[1:5])
data = random_dataset(train, test, seed=1)
waited = time.perf_counter()
with gpu_slot() as slot:
    start = time.perf_counter()
    config = TrainConfig(method="also-min", arch="resnet18", width=width, epochs=epochs, batch_size=64,
                         pi_lr=1e-5, device="cuda" if torch.cuda.is_available() else "cpu", seed=0)
    trainer = Trainer(data, data.y_train, data.y_train, config, name="gpu-session/packed")
    trainer.fit(progress=False)
    print(json.dumps({"slot": slot, "waited_s": start - waited, "train_s": time.perf_counter() - start,
                      "s_per_epoch": [h["seconds"] for h in trainer.record.history]}))
"""


def packing(size: dict, device: str, jobs_per_gpu: int) -> dict:
    """``size["runs"]`` concurrent training processes, each in a GPU slot; their total wall time."""
    env = {**os.environ, "ALSOFILTER_JOBS_PER_GPU": str(jobs_per_gpu), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    env["ALSOFILTER_GPU_SLOTS"] = tempfile.mkdtemp(prefix="gpu-session-slots-")
    if device == "cpu":
        env["ALSOFILTER_GPU_COUNT"] = "1"          # pretend one GPU: the slots are what is timed
    args = [sys.executable, "-c", PACKED_RUN, str(size["train"]), str(size["test"]), str(size["width"]),
            str(size["epochs"])]
    start = time.perf_counter()
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(size["runs"])]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - start
    runs = []
    for p, (stdout, stderr) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"a packed run failed ({p.returncode}):\n{stderr[-3000:]}")
        runs.append(json.loads(stdout.strip().splitlines()[-1]))
    return {"jobs_per_gpu": jobs_per_gpu, "runs": size["runs"], "epochs": size["epochs"], "wall_s": wall,
            "per_run": runs}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--skip-packing", action="store_true")
    args = parser.parse_args(argv)
    size = SIZES["smoke" if args.smoke else "full"]
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "gpu_session.json")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"command": " ".join([sys.executable, "-m", "benchmarks.gpu_session", *(argv or sys.argv[1:])]),
              "environment": environment(torch.device(device)), "size": size, "epochs": [], "packing": []}
    data = random_dataset(size["train"], size["test"])
    for method in ("adamw", "also-min"):
        for speed in size["speeds"]:
            config = TrainConfig(method=method, arch="resnet18", width=size["width"], epochs=1, batch_size=64,
                                 pi_lr=1e-5, device=device, seed=0, speed=speed)
            proj = project_epoch(data, config, size["warmup"])
            ref = reference_epoch(data, config, size["warmup"], size["workers"])
            row = {"method": method, "speed": speed, "images": data.num_train, "project_s": proj["seconds"],
                   "reference_s": ref["seconds"], "speedup": ref["seconds"] / proj["seconds"],
                   "project_img_per_s": data.num_train / proj["seconds"], "backends": proj["backends"],
                   "host_syncs_in_20_steps": proj["host_syncs_in_training"]}
            result["epochs"].append(row)
            print(json.dumps(row), flush=True)
            write_json_atomic(out, result)
    if not args.skip_packing:
        for jobs in (1, size["runs"]):
            row = packing(size, device, jobs)
            result["packing"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "per_run"}), flush=True)
            write_json_atomic(out, result)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
