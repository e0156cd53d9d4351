"""Everything one GPU session should measure, in one command of at most ``--budget-s`` seconds
(440 by default, inside the 8 minutes of a device run on one H100/H200), one results file out.
Prepared on a CPU (``--smoke``); not yet run on a GPU.

Real CIFAR-10 throughout: a pack of the shared zip's JPEG files (:mod:`benchmarks.cifar_pack`,
55 MB, carried with the repository) decoded once on arrival. Three parts, in this order:

1. **Speed: whole epochs of three loops** on the first 1 000 training images of each class
   (10 000) and 200 test images of each class (2 000), ResNet-18 width 64, batch 64, for AdamW and
   ALSO-min (extragradient), ``speed: exact`` and ``speed: fast``: the project's loop
   (:meth:`Trainer.run_epoch`: training, per-sample bookkeeping, the clean-test evaluation, the
   one host transfer), ``plain`` (an ordinary DataLoader loop, faster than the authors' code) and
   ``authors`` (the authors' loop as it runs: no workers, per-parameter Python Adam, ``.item()``
   every step; ``exact`` only, as they trained); :mod:`benchmarks.reference_loops` says what each
   does. Each loop trains two epochs and the **second** is timed, so that cuDNN's autotuning,
   lazy kernel loading, the allocator's growth and the DataLoader workers' start (persistent
   workers) fall on the first, for every shape the loop meets. ``plain`` uses the project's
   precision and memory format (channels-last under ``fast``). Each row records the training loss
   of both epochs, the clean test accuracy and whether π stayed finite; a row whose loss does not
   fall is marked failed. The project's row also counts the host synchronisations in 20
   training steps (CUDA's sync debug mode; by design none).
2. **Packing.** ``runs`` processes train ALSO-min (``exact``, the same 10 000 images, 2 epochs)
   at once, each holding a GPU slot (:mod:`alsofilter.training.devices`), first with
   ``ALSOFILTER_JOBS_PER_GPU=1`` (they queue, as unpacked jobs do), then with ``runs`` (packed). The
   GPU count is torch's (``torch.cuda.device_count()``); without a GPU the comparison means nothing
   and the part is an error (``--pretend-gpus`` checks the slot semantics on a CPU, nothing else).
3. **The paper, for real**: the symmetric 0.4 scenario at full scale (50 000 training images,
   noise seed 42, the 10 000 test images), ResNet-18 width 64, the settings of
   ``config/paper.yaml``: AdamW, ALSO-min and ALSO-min-da (descent-ascent,
   ``config/also_min_da.yaml``) trained concurrently on the one GPU for the time that remains,
   each epoch's ROC-AUC of the loss, loss-mean, AUM and (ALSO) weight signals recorded.

Robust to being cut off: every row runs in a child process with a deadline (killed with its
process group when it passes it), inside a failure boundary (an error becomes the row's status),
and the results file (``--out``, default ``$OUT/gpu_session.json``) is rewritten atomically
after every row and every epoch of the paper runs. The command, what it carries and how to
prepare it: BENCHMARKS.md, "GPU session". On a CPU::

    python -m benchmarks.gpu_session --smoke --data .gpu_data/smoke.npz --pretend-gpus 1
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".gpu_data" / "cifar10.npz"
#: marks a child's result lines on its standard output
MESSAGE = "@@gpu-session "

#: sizes of a GPU session and of the CPU check (which skips bf16: ~10x slower than fp32 on a CPU).
#: ``*_s``: the most seconds a part (or one child of the speed part) may take.
SIZES = {
    "full": dict(speed_per_class=1000, speed_test_per_class=200, width=64, workers=8, loop_epochs=2,
                 speeds=("exact", "fast"), runs=3, pack_epochs=2, paper_per_class=None, paper_test_per_class=None,
                 paper_width=64, paper_max_epochs=100, budget_s=440, speed_s=170, speed_child_s=80, packing_s=80,
                 margin_s=10),
    "smoke": dict(speed_per_class=32, speed_test_per_class=10, width=4, workers=2, loop_epochs=2,
                  speeds=("exact",), runs=2, pack_epochs=1, paper_per_class=32, paper_test_per_class=10,
                  paper_width=4, paper_max_epochs=2, budget_s=900, speed_s=400, speed_child_s=300, packing_s=300,
                  margin_s=5),
}
SPEED_METHODS = ("adamw", "also-min")
#: the paper part's runs: name -> TrainConfig settings on top of config/paper.yaml's training section
PAPER_RUNS = {"adamw": {"method": "adamw"}, "also-min": {"method": "also-min"},
              "also-min-da": {"method": "also-min", "also_mode": "descent-ascent"}}
PAPER_NOISE = {"noise": "symmetric", "rate": 0.4, "seed": 42}


# ============================================================================ data
def stage(data, folder: Path, per_class: int | None = None, test_per_class: int | None = None) -> dict:
    """Write ``data`` (an :class:`ImageDataset` from :func:`benchmarks.cifar_pack.load`), or the
    first ``per_class`` / ``test_per_class`` images of each class, into ``folder`` as ``.npy`` files
    the children memory-map; returns what was staged."""
    from alsofilter.data import channel_stats
    from benchmarks.cifar_pack import first_per_class

    train = first_per_class(data.y_train, per_class)
    test = first_per_class(data.y_test, test_per_class)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": data.x_train[train], "y_train": data.y_train[train],
              "x_test": data.x_test[test], "y_test": data.y_test[test]}
    for name, values in arrays.items():
        np.save(folder / f"{name}.npy", values)
    mean, std = channel_stats(arrays["x_train"])
    meta = {"name": data.name, "classes": data.class_names, "mean": mean, "std": std,
            "train": len(train), "test": len(test)}
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


def load_staged(folder: Path):
    """The :class:`ImageDataset` :func:`stage` wrote (arrays memory-mapped)."""
    from alsofilter.data import ImageDataset

    meta = json.loads((folder / "meta.json").read_text())
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in ("x_train", "y_train", "x_test", "y_test")}
    return ImageDataset(name=meta["name"], num_classes=len(meta["classes"]), class_names=meta["classes"],
                        mean=tuple(meta["mean"]), std=tuple(meta["std"]), **arrays)


# ============================================================================ children
#: children running now (each in a process group of its own), stopped if the session is stopped
LIVE: set[subprocess.Popen] = set()


def child_command(spec: dict) -> list[str]:
    return [sys.executable, "-m", "benchmarks.gpu_session", "--child", json.dumps(spec)]


def run_children(specs: Sequence[dict], deadline: float, on_message: Callable[[dict, dict], None],
                 env: dict, logs: Path, command: Callable[[dict], list[str]] = child_command) -> list[dict]:
    """Start one child per spec at once (``python -m benchmarks.gpu_session --child <spec>``),
    pass each result line to ``on_message(spec, message)`` as it comes, and kill (the process
    group: SIGTERM, then SIGKILL) whatever still runs at ``deadline`` (``time.time()``). Returns
    per child ``{"name", "rc", "timed_out", "seconds", "stderr_tail"}``."""
    started = []
    for spec in specs:
        spec = {**spec, "deadline": deadline}
        err = open(logs / f"{spec['name']}.stderr", "w+")
        proc = subprocess.Popen(command(spec), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        pump = threading.Thread(target=_pump, args=(proc.stdout, spec, on_message), daemon=True)
        pump.start()
        LIVE.add(proc)
        started.append((spec, proc, err, pump, time.time()))
    timed_out = set()
    for spec, proc, _, _, _ in started:
        try:
            proc.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            break
    alive = [proc for _, proc, _, _, _ in started if proc.poll() is None]
    if alive:   # the deadline passed: stop them all at once
        timed_out = {proc.pid for proc in alive}
        _kill_groups(alive)
    statuses = []
    for spec, proc, err, pump, begun in started:
        LIVE.discard(proc)
        pump.join(timeout=10)
        err.seek(0)
        tail = err.read()[-3000:]
        err.close()
        statuses.append({"name": spec["name"], "rc": proc.returncode, "timed_out": proc.pid in timed_out,
                         "seconds": time.time() - begun, "stderr_tail": tail})
    return statuses


def _pump(stream, spec: dict, on_message) -> None:
    for line in stream:
        if line.startswith(MESSAGE):
            on_message(spec, json.loads(line[len(MESSAGE):]))
        else:
            print(f"[{spec['name']}] {line}", end="", flush=True)


def _kill_groups(procs: Sequence[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM to each process group, SIGKILL to those still there ``grace`` seconds later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        end = time.time() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                pass
        if all(proc.poll() is not None for proc in procs):
            return


def emit(message: dict) -> None:
    """A child's result line (read by :func:`run_children`)."""
    print(MESSAGE + json.dumps(message, default=_jsonable), flush=True)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def child_failure(status: dict) -> str:
    if status["timed_out"]:
        return f"error: the child passed its deadline after {status['seconds']:.0f} s and was killed"
    return f"error: the child exited with status {status['rc']}: {status['stderr_tail'][-600:]}"


def child_env(extra: dict | None = None) -> dict:
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(extra or {})}


# ============================================================================ rows (in children)
def loss_fell(epochs: list[dict]) -> str:
    """``"ok"``, or why the row failed: a non-finite loss or π, or a last epoch's mean training
    loss that is not below the first's."""
    losses = [e["train_loss"] for e in epochs]
    if not np.all(np.isfinite(losses)) or any(e.get("pi_finite") is False for e in epochs):
        return "failed: non-finite loss or pi"
    if len(losses) > 1 and not losses[-1] < losses[0]:
        return f"failed: the training loss did not fall ({losses[0]:.4f} -> {losses[-1]:.4f})"
    return "ok"


def _setup_child(device: str) -> None:
    import torch

    if device == "cpu":
        torch.set_num_threads(1)


def _train_config(settings: dict):
    from alsofilter.config.settings import TrainConfig

    return TrainConfig(**settings)


def project_loop(data, config, epochs: int) -> tuple[list[dict], dict]:
    """``epochs`` calls of :meth:`Trainer.run_epoch`, each timed between two device syncs."""
    import torch

    from alsofilter.training.trainer import Trainer
    from benchmarks.reference_loops import sync

    trainer = Trainer(data, data.y_train, data.y_train, config, name="gpu-session/project")
    rows = []
    for _ in range(epochs):
        sync(trainer.device)
        start = time.perf_counter()
        row = trainer.run_epoch()
        sync(trainer.device)
        pi = trainer.optimizer.pi if trainer.is_also else None
        rows.append({"seconds": time.perf_counter() - start, "train_loss": row["train_loss"],
                     "test_acc": row["test_acc"], "pi_finite": None if pi is None else bool(torch.isfinite(pi).all())})
    extra = {"backends": trainer.backends, "host_syncs_in_20_steps": host_syncs(trainer)}
    return rows, extra


def host_syncs(trainer, steps: int = 20) -> int | None:
    """How many times ``steps`` training steps make the host wait for the GPU (CUDA's sync debug
    mode warns at each); the loop's design is none until the epoch's end. None on a CPU."""
    import torch

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


def train_steps(trainer, steps: int) -> None:
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


def speed_child(spec: dict) -> None:
    """The loops of one (method, speed), in order; one result line per loop, whatever happens."""
    import torch

    from benchmarks import reference_loops

    from alsofilter.training.speed import apply_backend_flags

    _setup_child(spec["device"])
    data = load_staged(Path(spec["data"]))
    config = _train_config(spec["settings"])
    # TF32 and cuDNN autotuning are process-wide: every loop of this child runs under the config's
    # (the authors' own runs had torch's defaults: cuDNN TF32 on, no autotuning)
    flags = apply_backend_flags(config, torch.device(spec["device"]))
    for loop in spec["loops"]:
        row = {"loop": loop, "method": config.method, "speed": config.speed, "images": data.num_train,
               "test_images": data.num_test, "width": config.width, "batch_size": config.batch_size,
               "flags": {k: flags[k] for k in ("tf32_matmul", "tf32_cudnn", "cudnn_benchmark")},
               **reference_loops.loop_arithmetic(loop, config)}
        try:
            if loop == "project":
                epochs, extra = project_loop(data, config, spec["epochs"])
                row.update(extra)
            elif loop == "plain":
                epochs = reference_loops.plain_loop(data, config, spec["epochs"], spec["workers"])
            else:
                epochs = reference_loops.authors_loop(data, config, spec["epochs"])
            row.update(epochs=epochs, timed_s=epochs[-1]["seconds"],
                       img_per_s=data.num_train / epochs[-1]["seconds"], status=loss_fell(epochs))
        except Exception as exc:  # the row's failure boundary: the next loop still runs
            row.update(status=f"error: {type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-2000:])
        emit(row)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def pack_child(spec: dict) -> None:
    """One packed run: wait for a GPU slot, then train; fails where the slot code pins nothing.
    torch is imported before the wait (importing it does not start CUDA; the slot must point
    ``CUDA_VISIBLE_DEVICES`` at its GPU before anything does)."""
    import torch

    from alsofilter.training.devices import gpu_slot
    from alsofilter.training.trainer import Trainer

    _setup_child(spec["device"])
    waited = time.perf_counter()
    with gpu_slot(timeout=max(1.0, spec["deadline"] - time.time())) as slot:
        start = time.perf_counter()
        if slot is None:
            raise RuntimeError("the slot code pinned no GPU (it found none, or SLURM_JOB_ID is set): "
                               "unpacked and packed runs would run alike")
        if spec["device"] == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"slot {slot} points CUDA_VISIBLE_DEVICES at {slot['device']}, where torch sees no GPU")
        data = load_staged(Path(spec["data"]))
        trainer = Trainer(data, data.y_train, data.y_train, _train_config(spec["settings"]), name=spec["name"])
        epochs = [trainer.run_epoch() for _ in range(spec["epochs"])]
        emit({"slot": slot, "waited_s": start - waited, "train_s": time.perf_counter() - start,
              "s_per_epoch": [e["seconds"] for e in epochs], "train_loss": [e["train_loss"] for e in epochs]})


def paper_child(spec: dict) -> None:
    """One run of the paper scenario, epoch after epoch until its deadline would cut the next
    one off; one result line per epoch with the ROC-AUC of each signal against the noise."""
    import torch
    from sklearn.metrics import roc_auc_score

    from alsofilter.detectors.signals import suspicion_score
    from alsofilter.training.trainer import Trainer

    _setup_child(spec["device"])
    data = load_staged(Path(spec["data"]))
    noisy = np.load(Path(spec["data"]) / "noisy_labels.npy")
    true = np.asarray(data.y_train)
    is_noisy = noisy != true
    trainer = Trainer(data, noisy, true, _train_config(spec["settings"]), name=spec["name"])
    last = None
    while trainer.epoch < spec["max_epochs"]:
        # stop before an epoch that would not end in time (the first one always starts)
        if last is not None and time.time() + 1.1 * last + 2 > spec["deadline"]:
            break
        start = time.perf_counter()
        row = trainer.run_epoch()
        last = time.perf_counter() - start
        arrays = trainer.record.stacked()
        auc = {}
        for signal_name in ("loss", "loss_mean", "aum", "weight"):
            if signal_name == "weight" and not trainer.is_also:
                continue
            auc[signal_name] = float(roc_auc_score(is_noisy, suspicion_score(signal_name, arrays)[-1]))
        pi = trainer.optimizer.pi if trainer.is_also else None
        emit({**row, "epoch_wall_s": last, "roc_auc": auc,
              "pi_finite": None if pi is None else bool(torch.isfinite(pi).all())})


CHILDREN = {"speed": speed_child, "pack": pack_child, "paper": paper_child}


# ============================================================================ parts (in the parent)
class Session:
    """The results, written atomically to ``out`` after every change (thread-safe)."""

    def __init__(self, out: Path, result: dict):
        from alsofilter.io import write_json_atomic

        self.out, self.result, self._write = out, result, write_json_atomic
        self.lock = threading.RLock()   # re-entrant: the SIGTERM handler may write while the main thread does
        self.save()

    def save(self) -> None:
        with self.lock:
            self._write(self.out, self.result)

    def update(self, change: Callable[[dict], None]) -> None:
        with self.lock:
            change(self.result)
            self._write(self.out, self.result)


def speed_part(session: Session, size: dict, device: str, data: Path, logs: Path, part_deadline: float) -> None:
    for speed in size["speeds"]:
        for method in SPEED_METHODS:
            if time.time() > part_deadline - 5:
                session.update(lambda r: r["speed"].append({"method": method, "speed": speed,
                                                            "status": "skipped: the speed part's time is up"}))
                continue
            loops = ["project", "plain"] + (["authors"] if speed == "exact" else [])
            settings = dict(method=method, arch="resnet18", width=size["width"], epochs=1, batch_size=64,
                            pi_lr=1e-5, device=device, seed=0, speed=speed)
            spec = {"kind": "speed", "name": f"speed-{method}-{speed}", "device": device, "data": str(data),
                    "settings": settings, "loops": loops, "epochs": size["loop_epochs"], "workers": size["workers"]}
            got: list[dict] = []

            def on_row(_, row, got=got):
                got.append(row)
                session.update(lambda r: r["speed"].append(row))
                print(json.dumps({k: row.get(k) for k in ("loop", "method", "speed", "timed_s", "status")}), flush=True)

            deadline = min(part_deadline, time.time() + size["speed_child_s"])
            status = run_children([spec], deadline, on_row, child_env(), logs)[0]
            done = {row["loop"] for row in got}
            for loop in loops:
                if loop not in done:   # the child died or was killed before this loop's row
                    row = {"loop": loop, "method": method, "speed": speed, "status": child_failure(status)}
                    session.update(lambda r, row=row: r["speed"].append(row))
            session.update(lambda r: r["speed_summary"].append(speed_summary(got, method, speed)))


def speed_summary(rows: list[dict], method: str, speed: str) -> dict:
    """Seconds of the timed epoch per loop and how many times faster the project's loop is."""
    timed = {row["loop"]: row["timed_s"] for row in rows if row.get("status") == "ok"}
    summary = {"method": method, "speed": speed, **{f"{loop}_s": s for loop, s in timed.items()}}
    for loop in ("plain", "authors"):
        if "project" in timed and loop in timed:
            summary[f"project_vs_{loop}"] = timed[loop] / timed["project"]
    return summary


def packing_part(session: Session, size: dict, device: str, gpus: int, pretend_gpus: int | None, data: Path,
                 logs: Path, part_deadline: float) -> None:
    """Unpacked, then packed; an error row where torch sees no GPU (unless pretending)."""
    if gpus == 0 and not pretend_gpus:
        session.update(lambda r: r["packing"].append({
            "status": "error: torch sees no GPU (torch.cuda.device_count() == 0): unpacked and packed runs "
                      "would both run at once, so their comparison would mean nothing"}))
        return
    extra = {"ALSOFILTER_GPU_SLOTS": tempfile.mkdtemp(prefix="gpu-session-slots-")}
    if gpus == 0:
        extra["ALSOFILTER_GPU_COUNT"] = str(pretend_gpus)      # the slots' semantics only
    elif "CUDA_VISIBLE_DEVICES" not in os.environ:
        extra["ALSOFILTER_GPU_COUNT"] = str(gpus)              # torch's count, not /proc/driver/nvidia
    settings = dict(method="also-min", arch="resnet18", width=size["width"], epochs=size["pack_epochs"],
                    batch_size=64, pi_lr=1e-5, device=device, seed=0, speed="exact")
    for jobs in (1, size["runs"]):
        if time.time() > part_deadline - 5:
            session.update(lambda r: r["packing"].append({"jobs_per_gpu": jobs, "status": "skipped: time is up"}))
            continue
        env = {k: v for k, v in child_env({**extra, "ALSOFILTER_JOBS_PER_GPU": str(jobs)}).items()
               if k != "SLURM_JOB_ID"}
        specs = [{"kind": "pack", "name": f"pack{jobs}-run{i}", "device": device, "data": str(data),
                  "settings": settings, "epochs": size["pack_epochs"]} for i in range(size["runs"])]
        runs: list[dict] = []
        start = time.time()
        statuses = run_children(specs, part_deadline, lambda _, m: runs.append(m), env, logs)
        row = {"jobs_per_gpu": jobs, "runs": size["runs"], "epochs": size["pack_epochs"], "wall_s": time.time() - start,
               "gpus": gpus, "pretend_gpus": pretend_gpus if gpus == 0 else None, "per_run": runs,
               "status": "ok" if len(runs) == size["runs"] else "; ".join(
                   child_failure(s) for s in statuses if s["rc"] != 0 or s["timed_out"]) or "error: a run reported nothing"}
        session.update(lambda r: r["packing"].append(row))
        print(json.dumps({k: v for k, v in row.items() if k != "per_run"}), flush=True)


def paper_settings(speed: str | None, width: int) -> dict[str, dict]:
    """TrainConfig settings of each paper run: ``config/paper.yaml``'s training section, its seed
    42, each run's method (``PAPER_RUNS``), the width; ``epochs`` stays the paper's 100 (it sets
    no schedule, and ``pi_lr`` is a number there), the runs stop when the time is up."""
    import yaml

    training = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["training"]
    variant = yaml.safe_load((REPO / "config" / "also_min_da.yaml").read_text())["variants"]["also-min-da"]
    if variant != {"also_mode": PAPER_RUNS["also-min-da"]["also_mode"]}:
        raise ValueError(f"config/also_min_da.yaml's variant is {variant}; PAPER_RUNS is out of date")
    base = {**training, "width": width, "arch": "resnet18", "seed": PAPER_NOISE["seed"]}
    if speed:
        base["speed"] = speed
    return {name: {**base, **run} for name, run in PAPER_RUNS.items()}


def paper_part(session: Session, size: dict, device: str, data: Path, logs: Path, deadline: float,
               speed: str | None) -> None:
    from alsofilter.data.noise import make_noisy_labels

    import yaml

    y = np.load(data / "y_train.npy")
    include_true = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["noise_options"]["symmetric_include_true"]
    table = make_noisy_labels(y, 10, PAPER_NOISE["noise"], PAPER_NOISE["rate"], PAPER_NOISE["seed"], "cifar10",
                              include_true=include_true)
    np.save(data / "noisy_labels.npy", table["noisy_label"].to_numpy())
    specs = []
    for name, settings in paper_settings(speed, size["paper_width"]).items():
        settings = {**settings, "device": device}
        specs.append({"kind": "paper", "name": f"paper-{name}", "device": device, "data": str(data),
                      "settings": settings, "max_epochs": size["paper_max_epochs"]})
    session.update(lambda r: r["paper"].update(
        scenario={**PAPER_NOISE, "include_true": include_true, "images": int(len(y)),
                  "noisy_fraction": float(table["is_noisy"].mean())},
        settings={s["name"]: s["settings"] for s in specs}, runs={s["name"]: [] for s in specs}))

    def on_epoch(spec, row):
        session.update(lambda r: r["paper"]["runs"][spec["name"]].append(row))
        print(json.dumps({"run": spec["name"], "epoch": row["epoch"], "s": round(row["epoch_wall_s"], 1),
                          "loss": round(row["train_loss"], 4), "test_acc": round(row["test_acc"], 4),
                          "roc_auc": {k: round(v, 4) for k, v in row["roc_auc"].items()}}), flush=True)

    statuses = run_children(specs, deadline, on_epoch, child_env(), logs)
    session.update(lambda r: r["paper"].update(status={
        s["name"]: ("stopped at its deadline" if s["timed_out"] else "ok" if s["rc"] == 0 else child_failure(s))
        for s in statuses}))


# ============================================================================ main
def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the CIFAR-10 pack (benchmarks/cifar_pack.py)")
    parser.add_argument("--out", default=None, help="results file (default $OUT/gpu_session.json)")
    parser.add_argument("--budget-s", type=float, default=None, help="seconds for the whole session")
    parser.add_argument("--parts", default="speed,packing,paper", help="which parts, comma-separated")
    parser.add_argument("--pretend-gpus", type=int, default=None,
                        help="on a machine without a GPU: pretend this many for the packing part's slots")
    parser.add_argument("--paper-speed", choices=("exact", "fast"), default=None,
                        help="speed of the paper runs (default: config/paper.yaml's)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        spec = json.loads(args.child)
        CHILDREN[spec["kind"]](spec)
        return spec

    started = time.time()
    size = dict(SIZES["smoke" if args.smoke else "full"])
    if args.budget_s is not None:
        size["budget_s"] = args.budget_s
    deadline = started + size["budget_s"] - size["margin_s"]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"speed", "packing", "paper"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from speed, packing, paper")
    import torch

    from benchmarks.bench_train import environment

    gpus = torch.cuda.device_count()
    device = "cuda" if gpus else "cpu"
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "gpu_session.json")
    result = {"command": " ".join([sys.executable, "-m", "benchmarks.gpu_session", *(argv or sys.argv[1:])]),
              "environment": environment(torch.device(device)), "gpus_seen_by_torch": gpus, "size": size,
              "parts": parts, "data": {}, "speed": [], "speed_summary": [], "packing": [], "paper": {},
              "errors": [], "finished": False}
    session = Session(out, result)

    def stopped(signum, _frame):
        # children live in process groups of their own: stop them with the session
        _kill_groups(list(LIVE), grace=2.0)
        session.update(lambda r: r["errors"].append({"part": "session", "error": f"stopped by signal {signum}"}))
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    work = Path(tempfile.mkdtemp(prefix="gpu-session-"))
    logs = work / "logs"
    logs.mkdir()

    def boundary(name: str, fn: Callable[[], None]) -> None:
        """A part's failure boundary: an error is recorded and the next part runs."""
        try:
            fn()
        except Exception as exc:
            session.update(lambda r: r["errors"].append({"part": name, "error": f"{type(exc).__name__}: {exc}",
                                                         "traceback": traceback.format_exc()[-3000:]}))
            print(f"part {name} failed: {exc}", flush=True)

    staged: dict[str, Path] = {}

    def stage_all():
        from benchmarks import cifar_pack

        t = time.perf_counter()
        paper = "paper" in parts
        data = cifar_pack.load(args.data, size["paper_per_class"] if paper else size["speed_per_class"],
                               size["paper_test_per_class"] if paper else size["speed_test_per_class"])
        session.update(lambda r: r["data"].update(pack=str(args.data), decode_s=time.perf_counter() - t))
        if "speed" in parts or "packing" in parts:
            meta = stage(data, work / "speed", size["speed_per_class"], size["speed_test_per_class"])
            staged["speed"] = work / "speed"
            session.update(lambda r: r["data"].update(speed=meta))
        if paper:
            meta = stage(data, work / "paper")
            staged["paper"] = work / "paper"
            session.update(lambda r: r["data"].update(paper=meta))
        session.update(lambda r: r["data"].update(staged_s=time.perf_counter() - t))

    boundary("data", stage_all)
    if "speed" in parts and "speed" in staged:
        boundary("speed", lambda: speed_part(session, size, device, staged["speed"], logs,
                                             min(deadline, time.time() + size["speed_s"])))
    if "packing" in parts and "speed" in staged:
        boundary("packing", lambda: packing_part(session, size, device, gpus, args.pretend_gpus, staged["speed"],
                                                 logs, min(deadline, time.time() + size["packing_s"])))
    if "paper" in parts and "paper" in staged:
        boundary("paper", lambda: paper_part(session, size, device, staged["paper"], logs, deadline,
                                             args.paper_speed))
    session.update(lambda r: r.update(finished=True, wall_s=time.time() - started))
    print(f"wrote {out} ({time.time() - started:.0f} s)", flush=True)
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
