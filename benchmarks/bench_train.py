"""Training-speed benchmark: the project's loop (:class:`alsofilter.training.trainer.Trainer`) against a
reference loop written the plain way, on random uint8 data of a real dataset's shape.

For every configuration (architecture × method × batch size) it reports images per second,
seconds per epoch, milliseconds per step and the achieved FLOP/s as a fraction of the device's
measured matrix-multiply rate (bf16 on CUDA, fp32 on CPU), then the same for the reference loop
and the ratio of the two.

Project loop
    The real ``Trainer``: uint8 data on the device, batches drawn by index, batched augmentation,
    per-sample bookkeeping. ``trainer.train_epoch()`` is stopped after a given number of steps with
    the trainer's own ``stop_requested`` flag (set from a wrapper around ``trainer.normalize``,
    which the loop calls once per step) and resumed for the next timed block, so an epoch over the
    full data set (and ALSO's π over all N samples) is timed without running it to the end.

Reference loop
    ``torch.utils.data.DataLoader`` over a ``Dataset`` whose ``__getitem__`` crops (zero padding)
    and flips one image at a time and converts it to normalised float32, default collation,
    fp32 model in the default memory format, the standard optimizer step (AdamW:
    ``zero_grad / backward / step``; ALSO: ``optimizer.step(indices, closure)`` on the same
    batch). It does no per-sample bookkeeping and no per-step host synchronisation, so it is, if
    anything, favourable to the reference.

Timing: both loops are built on the same data (same model initialisation), warmed up, then
timed in alternating blocks (project, reference, reference, project, ...); the fastest block of
each loop counts, which is the figure least disturbed by other processes on a shared machine.
CUDA is synchronised around every block. The process CPU time of each block is recorded too (on
CPU with ``--threads 1`` it hardly depends on other processes' load).

FLOPs are counted, not estimated from a table: forward hooks on every ``Conv2d`` / ``Linear``
count multiply-accumulates per image (:func:`count_macs`); a training step costs
``3 × 2 × MACs`` per image (forward + backward ≈ 2× forward), ALSO's extragradient mode twice that
(two forward/backward passes per batch). These are direct-convolution FLOPs: a convolution
library that uses Winograd/FFT algorithms, or kernels faster than the BLAS behind
``torch.matmul``, can make the "achieved" rate approach or exceed the measured matmul rate (on a
2-core AMD EPYC some single 3×3 convolutions ran at ~1.5× the fp32 matmul rate). The matmul rate
is measured before and after the runs and the larger value is used.

Run ``python scripts/bench_train.py --help``; presets: ``full`` (both ResNets, both methods,
batch 64/128/512, CIFAR shape), ``quick`` (ResNet-18, batch 64/128, a handful of steps) and
``demo`` (the demo's setting: digits-shaped 1437×1×8×8 data, ResNet-18 width 8, batch 64, no
augmentation, whole epochs).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import math
import os
import platform
import sys
import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from alsofilter.training.also import ALSO, DIRECTION_OF_METHOD
from alsofilter.data import ImageDataset, channel_stats
from alsofilter.training.models import build_model
from alsofilter.config.settings import TrainConfig
from alsofilter.training.trainer import Trainer, resolve_device

CIFAR_SHAPE = (3, 32, 32)
DIGITS_SHAPE = (1, 8, 8)
DIGITS_TRAIN = 1437

#: per-preset defaults; command-line options override them
PRESETS: dict[str, dict] = {
    "full": dict(archs=["resnet18", "resnet34"], methods=["adamw", "also-min"], batch_sizes=[64, 128, 512],
                 width=64, shape=CIFAR_SHAPE, num_images=50_000, steps=50, warmup=10, repeats=3,
                 crop_padding=4, flip=True, pi_lr=1e-5),
    "quick": dict(archs=["resnet18"], methods=["adamw", "also-min"], batch_sizes=[64, 128],
                  width=64, shape=CIFAR_SHAPE, num_images=50_000, steps=1, warmup=2, repeats=4,
                  crop_padding=4, flip=True, pi_lr=1e-5),
    # the demo (config.yaml + DATASET_DEFAULTS["digits"]): whole epochs of the 1437 training digits
    "demo": dict(archs=["resnet18"], methods=["adamw", "also-min"], batch_sizes=[64],
                 width=8, shape=DIGITS_SHAPE, num_images=DIGITS_TRAIN, steps=None, epochs=1, warmup=None,
                 repeats=7, crop_padding=0, flip=False, pi_lr=3e-3),
}

TABLE_COLUMNS = ["arch", "method", "batch", "device", "precision", "img_per_s", "s_per_epoch", "ms_per_step",
                 "achieved_tflops", "pct_of_matmul_peak", "ref_img_per_s", "speedup_vs_ref"]


# ----------------------------------------------------------------------------------------------
# data


def random_cifar_like(n: int = 50_000, shape: Sequence[int] = CIFAR_SHAPE, classes: int = 10,
                      seed: int = 0) -> ImageDataset:
    """Random uint8 images ``(n, *shape)`` and random labels as an :class:`ImageDataset` (no test
    split); mean/std from :func:`alsofilter.data.channel_stats`. Training speed does not depend
    on the pixel values, so this stands in for CIFAR-10 (or the digits) where it is absent."""
    if n < 2:
        raise ValueError(f"need at least 2 images, got n={n}")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(int(n), *map(int, shape)), dtype=np.uint8)
    y = rng.integers(0, classes, size=int(n)).astype(np.int64)
    mean, std = channel_stats(x)
    return ImageDataset(name=f"random{tuple(shape)}", x_train=x, y_train=y, x_test=None, y_test=None,
                        num_classes=int(classes), class_names=[str(i) for i in range(classes)],
                        mean=mean, std=std)


class ReferenceDataset(torch.utils.data.Dataset):
    """The plain way: one image per ``__getitem__``, random crop with zero padding and a random
    horizontal flip on that image, then float32 ``(x / 255 - mean) / std``. Returns
    ``(image, label, index)`` (the index is what ALSO needs)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mean, std, padding: int, flip: bool):
        self.x, self.y = x, np.asarray(y, dtype=np.int64)
        self.padding, self.flip = int(padding), bool(flip)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        img = torch.from_numpy(self.x[i])                          # uint8 (C, H, W)
        if self.padding > 0:
            _, h, w = img.shape
            p = self.padding
            img = F.pad(img, (p, p, p, p))
            dy, dx = torch.randint(0, 2 * p + 1, (2,)).tolist()
            img = img[:, dy:dy + h, dx:dx + w]
        if self.flip and torch.rand(()) < 0.5:
            img = img.flip(2)
        img = (img.float().div_(255.0) - self.mean) / self.std
        return img, int(self.y[i]), i


# ----------------------------------------------------------------------------------------------
# FLOPs


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of one image ``input_shape = (C, H, W)``,
    counted with forward hooks on every ``Conv2d`` (``out_elems × in_ch/groups × kh × kw``) and
    ``Linear`` (``out_elems × in_features``). Biases, batch norm, activations and pooling are
    not counted (they are a fraction of a percent for a ResNet)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        per_out = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        total += output[0].numel() * per_out

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output[0].numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


def model_flops_per_image(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs per image: ``2 × MACs`` (:func:`count_macs`)."""
    return 2 * count_macs(model, input_shape)


def passes_per_step(method: str, also_mode: str = "extragrad") -> int:
    """Forward+backward passes per batch: 2 for ALSO's extragradient mode, else 1."""
    return 2 if method.startswith("also") and also_mode == "extragrad" else 1


def train_flops_per_image(forward_flops: float, method: str, also_mode: str = "extragrad") -> float:
    """Training FLOPs per image: forward + backward ≈ 3 × forward, times the passes per batch."""
    return 3.0 * forward_flops * passes_per_step(method, also_mode)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(device, dtype: torch.dtype | None = None, size: int | None = None,
                 iters: int | None = None, repeats: int = 3) -> float:
    """Measured matrix-multiply rate in FLOP/s (best of ``repeats``) for ``size × size``
    matrices: bf16 and 8192 on CUDA, fp32 and 2048 on CPU by default."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if cuda else torch.float32)
    size = size or (8192 if cuda else 2048)
    iters = iters or (20 if cuda else 2)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(2):
        torch.matmul(a, b, out=out)
    _sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            torch.matmul(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 * iters / best


# ----------------------------------------------------------------------------------------------
# the two loops


def _config_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def make_config(arch: str, method: str, batch_size: int, width: int, device: torch.device,
                crop_padding: int, flip: bool, pi_lr: float, precision: str = "fp32",
                channels_last: bool = False, seed: int = 0) -> TrainConfig:
    """The :class:`TrainConfig` of one benchmark configuration (``precision``/``channels_last``
    only where this version of TrainConfig has them)."""
    values = dict(method=method, arch=arch, width=width, epochs=1, batch_size=batch_size,
                  crop_padding=crop_padding, flip=flip, pi_lr=pi_lr, device=str(device), seed=seed)
    fields = _config_fields()
    for key, value, default in (("precision", precision, "fp32"), ("channels_last", channels_last, False)):
        if key in fields:
            values[key] = value
        elif value != default:
            raise ValueError(f"this version of TrainConfig has no {key!r} setting")
    return TrainConfig(**values)


class _StepCounter:
    """Stands in for ``trainer.normalize`` (called once per training step): counts steps and
    images and sets ``trainer.stop_requested`` once the step budget is used up."""

    def __init__(self, trainer: Trainer):
        self.inner = trainer.normalize
        self.trainer = trainer
        self.steps = 0
        self.images = 0
        self.limit = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        self.images += int(x.shape[0])
        if self.steps >= self.limit:
            self.trainer.stop_requested = True
        return self.inner(x)


class ProjectRunner:
    """The project's loop: a real :class:`Trainer`, advanced ``steps`` training steps at a time
    by :meth:`run` (across epoch boundaries when needed)."""

    def __init__(self, dataset: ImageDataset, config: TrainConfig):
        labels = dataset.y_train
        self.trainer = Trainer(dataset, labels, labels, config, name=f"bench/{config.arch}/{config.method}")
        self.device = self.trainer.device
        self.counter = _StepCounter(self.trainer)
        self.trainer.normalize = self.counter

    def run(self, steps: int) -> tuple[float, int, int, float]:
        """Train ``steps`` steps; returns (wall seconds, images, steps, process CPU seconds)."""
        counter, trainer = self.counter, self.trainer
        steps0, images0 = counter.steps, counter.images
        counter.limit = steps0 + steps
        trainer.stop_requested = False
        _sync(self.device)
        cpu0, start = time.process_time(), time.perf_counter()
        while counter.steps < counter.limit:
            before = counter.steps
            trainer.train_epoch()       # returns None when stopped mid-epoch; resumes next call
            if counter.steps == before:
                raise RuntimeError("Trainer.train_epoch no longer calls trainer.normalize once per step; "
                                   "benchmarks.bench_train cannot count its steps")
        _sync(self.device)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
        trainer.stop_requested = False
        return seconds, counter.images - images0, counter.steps - steps0, cpu


class ReferenceRunner:
    """The reference loop: DataLoader over :class:`ReferenceDataset`, fp32, standard step.
    Same data, architecture, initialisation (seed), optimizer and hyper-parameters as the
    project's run."""

    def __init__(self, dataset: ImageDataset, config: TrainConfig, workers: int = 0):
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.model = build_model(config.arch, dataset.num_classes, dataset.in_channels,
                                 config.width).to(self.device)
        n = dataset.num_train
        self.method = config.method
        if config.method == "adamw":
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay)
        else:
            self.optimizer = ALSO(self.model.parameters(), n, lr=config.lr, weight_decay=config.weight_decay,
                                  pi_lr=config.pi_lr, pi_decay=config.pi_decay,
                                  direction=DIRECTION_OF_METHOD[config.method], also_mode=config.also_mode,
                                  eps=config.eps, temperature=config.temperature, device=self.device)
        ds = ReferenceDataset(dataset.x_train, dataset.y_train, dataset.mean, dataset.std,
                              config.crop_padding, config.flip)
        cuda = self.device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            ds, batch_size=config.batch_size, shuffle=True, num_workers=workers, pin_memory=cuda,
            drop_last=(n % config.batch_size == 1), persistent_workers=workers > 0)
        self._iter = None
        self.model.train()

    def _next_batch(self):
        if self._iter is None:
            self._iter = iter(self.loader)
        try:
            return next(self._iter)
        except StopIteration:
            self._iter = iter(self.loader)
            return next(self._iter)

    def step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if self.method == "adamw":
            self.optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.optimizer.step()
        else:
            idx = idx.to(self.device, non_blocking=True)
            self.optimizer.step(idx, lambda: F.cross_entropy(self.model(x), y, reduction="none"))

    def run(self, steps: int) -> tuple[float, int, int, float]:
        """Train ``steps`` steps; returns (wall seconds, images, steps, process CPU seconds)."""
        images = 0
        _sync(self.device)
        cpu0, start = time.process_time(), time.perf_counter()
        for _ in range(steps):
            x, y, idx = self._next_batch()
            images += int(x.shape[0])
            self.step(x, y, idx)
        _sync(self.device)
        return time.perf_counter() - start, images, steps, time.process_time() - cpu0


def _timed(runner, steps: int, warmup: int, repeats: int) -> list[tuple[float, int, int]]:
    if warmup:
        runner.run(warmup)
    return [runner.run(steps) for _ in range(repeats)]


def _rate(results: list[tuple[float, int, int, float]]) -> dict:
    """Best (fastest) of the repeats: wall seconds, images, steps, img/s, ms/step; and,
    separately, the least process CPU time per image (CPU milliseconds per step of that block).

    The process CPU time (all of this process's threads, DataLoader workers not included) is far
    less sensitive to other processes competing for the cores than the wall-clock time."""
    seconds, images, steps, _ = min(results, key=lambda r: r[0] / r[1])
    cpu, cpu_images, cpu_steps = min(((r[3], r[1], r[2]) for r in results), key=lambda r: r[0] / r[1])
    return {"seconds": seconds, "images": images, "steps": steps, "img_per_s": images / seconds,
            "ms_per_step": 1e3 * seconds / steps, "all_img_per_s": [r[1] / r[0] for r in results],
            "cpu_ms_per_step": 1e3 * cpu / cpu_steps, "cpu_img_per_s": cpu_images / cpu}


def project_epoch_time(dataset: ImageDataset, config: TrainConfig, steps: int | None = None,
                       warmup: int = 2, repeats: int = 1) -> dict:
    """Time the project's loop (the real Trainer): ``warmup`` untimed steps, then ``repeats``
    blocks of ``steps`` steps (default: one epoch's worth). Returns the best block's rate and
    ``s_per_epoch`` = training-set size / images per second (an extrapolation when ``steps``
    is less than an epoch)."""
    runner = ProjectRunner(dataset, config)
    steps = steps or steps_per_epoch(dataset.num_train, config.batch_size)
    out = _rate(_timed(runner, steps, warmup, repeats))
    out["s_per_epoch"] = dataset.num_train / out["img_per_s"]
    return out


def reference_epoch_time(dataset: ImageDataset, config: TrainConfig, steps: int | None = None,
                         warmup: int = 2, repeats: int = 1, workers: int = 0) -> dict:
    """Same as :func:`project_epoch_time` for the reference loop (:class:`ReferenceRunner`)."""
    runner = ReferenceRunner(dataset, config, workers)
    steps = steps or steps_per_epoch(dataset.num_train, config.batch_size)
    out = _rate(_timed(runner, steps, warmup, repeats))
    out["s_per_epoch"] = dataset.num_train / out["img_per_s"]
    return out


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Steps of one epoch of the project's loop (a trailing batch of one joins the previous)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or full == 0 else 0)


def benchmark_config(dataset: ImageDataset, config: TrainConfig, steps: int, warmup: int, repeats: int,
                     ref_workers: int, with_reference: bool = True) -> dict:
    """Both loops on one configuration, warmed up, then timed alternately ``repeats`` times each,
    in the order project, reference, reference, project, project, ... (so that neither a drift
    in speed nor load from other processes favours one loop); the best block of each counts."""
    project = ProjectRunner(dataset, config)
    reference = ReferenceRunner(dataset, config, ref_workers) if with_reference else None
    if warmup:
        project.run(warmup)
        if reference is not None:
            reference.run(warmup)
    proj_results, ref_results = [], []
    for k in range(repeats):
        order = [(project, proj_results), (reference, ref_results)]
        for runner, results in (order if k % 2 == 0 else order[::-1]):
            if runner is not None:
                results.append(runner.run(steps))
    del project, reference
    return {"project": _rate(proj_results), "reference": _rate(ref_results) if ref_results else None}


# ----------------------------------------------------------------------------------------------
# environment


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    env = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
           "device_name": device_name(device), "torch": torch.__version__,
           "python": platform.python_version(), "numpy": np.__version__,
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    try:
        env["cpus_available"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    try:
        env["loadavg_1min"] = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        pass
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env


# ----------------------------------------------------------------------------------------------
# command line


def _csv_list(kind):
    def parse(text: str):
        return [kind(v) for v in text.split(",") if v.strip()]
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_train.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="full",
                   help="defaults for the options below (default: full)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    p.add_argument("--archs", type=_csv_list(str), help="comma-separated, e.g. resnet18,resnet34")
    p.add_argument("--methods", type=_csv_list(str), help="comma-separated, e.g. adamw,also-min")
    p.add_argument("--batch-sizes", type=_csv_list(int), help="comma-separated, e.g. 64,128,512")
    p.add_argument("--width", type=int, help="first-stage width of the ResNet (paper: 64)")
    p.add_argument("--steps", type=int,
                   help="timed steps per block (then extrapolated to an epoch); the demo preset "
                        "times whole epochs (--epochs) unless this is given")
    p.add_argument("--epochs", type=int, help="demo preset: whole epochs per timed block (default 1)")
    p.add_argument("--warmup", type=int, help="untimed steps before timing (default: 10 on CUDA, "
                                              "2 on CPU; demo: one epoch)")
    p.add_argument("--repeats", type=int, help="timed blocks per loop, alternating project and "
                                               "reference; the fastest counts")
    p.add_argument("--num-images", type=int, help="training-set size (default 50000; demo 1437)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="project loop's precision (auto: bf16 on CUDA, fp32 on CPU); the reference is fp32")
    p.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                   help="project loop's memory format (auto: on for CUDA, off on CPU)")
    p.add_argument("--ref-workers", type=int,
                   help="DataLoader workers of the reference loop (default: 4 on CUDA, 0 on CPU)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference loop")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--matmul-size", type=int, help="matrix size of the peak-rate measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", help="also write the results (with environment columns) to this CSV file")
    return p


def _resolve_options(args: argparse.Namespace) -> dict:
    opts = dict(PRESETS[args.preset])
    for key in ("archs", "methods", "batch_sizes", "width", "steps", "warmup", "repeats", "num_images", "epochs"):
        value = getattr(args, key)
        if value is not None:
            opts[key] = value
    return opts


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print the table, optionally write the CSV; returns the table."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    opts = _resolve_options(args)
    precision = args.precision if args.precision != "auto" else ("bf16" if cuda else "fp32")
    channels_last = (args.channels_last == "on") if args.channels_last != "auto" else cuda
    ref_workers = args.ref_workers if args.ref_workers is not None else (4 if cuda else 0)
    for name in ("width", "num_images", "repeats"):
        if opts[name] < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1")

    dataset = random_cifar_like(opts["num_images"], opts["shape"], 10, args.seed)
    n = dataset.num_train
    epoch_label = "50k" if n == 50_000 else str(n)

    peak_dtype = torch.bfloat16 if cuda else torch.float32
    # measured before and after the runs, the larger counts (other processes can only slow it down)
    peak = matmul_flops(device, peak_dtype, size=args.matmul_size, repeats=5)
    env = environment(device)
    command = "python scripts/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"# alsofilter training benchmark — {env['date']}")
    print(f"# command: {command}")
    print(f"# device: {device} ({env['device_name']}), torch {env['torch']}, python {env['python']}, "
          f"torch threads {env['torch_threads']}, CPUs available {env.get('cpus_available', env['cpu_count'])}"
          + (f", CUDA {env['cuda']}, cuDNN {env['cudnn']}" if cuda else "")
          + (f"; load average (1 min) at start {env['loadavg_1min']:.2f}" if "loadavg_1min" in env else ""))
    print(f"# matmul peak ({'bf16' if cuda else 'fp32'}, measured before the runs): {peak / 1e12:.3f} TFLOP/s"
          + ("" if cuda else "  [CPU: fp32 matmul rate, not bf16]"))
    print(f"# data: random uint8 {n}×{'×'.join(map(str, opts['shape']))}, 10 classes; crop padding "
          f"{opts['crop_padding']}, flip {opts['flip']}; width {opts['width']}; project precision {precision}, "
          f"channels_last {channels_last}; reference fp32, DataLoader workers {ref_workers}")

    rows = []
    for arch in opts["archs"]:
        for method in opts["methods"]:
            for batch in opts["batch_sizes"]:
                if batch > n:
                    raise SystemExit(f"batch size {batch} is larger than the data set ({n})")
                cfg = make_config(arch, method, batch, opts["width"], device, opts["crop_padding"],
                                  opts["flip"], opts["pi_lr"], precision, channels_last, args.seed)
                spe = steps_per_epoch(n, batch)
                steps = opts["steps"] or opts.get("epochs", 1) * spe
                warmup = opts["warmup"]
                if warmup is None:
                    warmup = spe if args.preset == "demo" else (10 if cuda else 2)
                fwd = model_flops_per_image(build_model(arch, 10, opts["shape"][0], opts["width"]), opts["shape"])
                train_flops = train_flops_per_image(fwd, method, cfg.also_mode)
                result = benchmark_config(dataset, cfg, steps, warmup, opts["repeats"], ref_workers,
                                          with_reference=not args.no_reference)
                proj, ref = result["project"], result["reference"]
                achieved = train_flops * proj["img_per_s"]
                row = {"arch": arch, "method": method, "batch": batch, "device": device.type,
                       "precision": precision, "img_per_s": proj["img_per_s"],
                       "s_per_epoch": n / proj["img_per_s"], "ms_per_step": proj["ms_per_step"],
                       "achieved_tflops": achieved / 1e12, "pct_of_matmul_peak": 100.0 * achieved / peak,
                       "ref_img_per_s": ref["img_per_s"] if ref else math.nan,
                       "speedup_vs_ref": proj["img_per_s"] / ref["img_per_s"] if ref else math.nan,
                       # extra columns (CSV only)
                       "ref_s_per_epoch": n / ref["img_per_s"] if ref else math.nan,
                       "ref_ms_per_step": ref["ms_per_step"] if ref else math.nan,
                       "cpu_ms_per_step": proj["cpu_ms_per_step"],
                       "ref_cpu_ms_per_step": ref["cpu_ms_per_step"] if ref else math.nan,
                       "cpu_speedup_vs_ref": proj["cpu_img_per_s"] / ref["cpu_img_per_s"] if ref else math.nan,
                       "epoch_images": n, "width": opts["width"], "steps": steps, "warmup": warmup,
                       "repeats": opts["repeats"], "train_gflop_per_image": train_flops / 1e9,
                       "matmul_peak_tflops": peak / 1e12,
                       "peak_dtype": "bf16" if cuda else "fp32", "channels_last": channels_last,
                       "ref_workers": ref_workers,
                       "img_per_s_all": " ".join(f"{v:.1f}" for v in proj["all_img_per_s"]),
                       "ref_img_per_s_all": (" ".join(f"{v:.1f}" for v in ref["all_img_per_s"]) if ref else "")}
                rows.append(row)
                print(f"#   {arch} {method} batch {batch}: {proj['img_per_s']:.1f} img/s"
                      + (f", reference {ref['img_per_s']:.1f} img/s" if ref else ""), flush=True)

    peak_end = matmul_flops(device, peak_dtype, size=args.matmul_size, repeats=5)
    print(f"# matmul peak measured after the runs: {peak_end / 1e12:.3f} TFLOP/s; "
          f"using the larger, {max(peak, peak_end) / 1e12:.3f}")
    peak = max(peak, peak_end)
    for row in rows:
        achieved = row["achieved_tflops"] * 1e12
        row["pct_of_matmul_peak"] = 100.0 * achieved / peak
        row["matmul_peak_tflops"] = peak / 1e12
    table = pd.DataFrame(rows)
    epoch_col = f"s_per_epoch_{epoch_label}"
    shown = table[TABLE_COLUMNS].rename(columns={"s_per_epoch": epoch_col})
    print()
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if not cuda and ref_workers == 0 and not args.no_reference:
        print()
        print("# process CPU time per step (all of this process's threads; least of the repeats). With "
              "--threads 1 it is barely affected by other processes competing for the cores; with more "
              "threads, OpenMP spin-waiting under contention inflates it as well")
        print(table[["arch", "method", "batch", "cpu_ms_per_step", "ref_cpu_ms_per_step", "cpu_speedup_vs_ref"]]
              .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    ratios = _also_ratios(table)
    if ratios is not None:
        print()
        print("# ALSO-min / AdamW epoch-time ratio (project loop"
              + (", and reference loop)" if not args.no_reference else ")"))
        print(ratios.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if hasattr(os, "getloadavg"):
        print(f"\n# load average (1 min) at end {os.getloadavg()[0]:.2f}")
        env["loadavg_1min_end"] = os.getloadavg()[0]
    if args.csv:
        out = table.rename(columns={"s_per_epoch": epoch_col}).assign(
            **{k: v for k, v in env.items()}, command=command)
        out.to_csv(args.csv, index=False)
        print(f"\n# wrote {args.csv}")
    return shown


def _also_ratios(table: pd.DataFrame) -> pd.DataFrame | None:
    if not {"adamw", "also-min"} <= set(table["method"]):
        return None
    key = ["arch", "batch"]
    a = table[table["method"] == "adamw"].set_index(key)
    b = table[table["method"] == "also-min"].set_index(key)
    joined = pd.DataFrame({"also_over_adamw": b["s_per_epoch"] / a["s_per_epoch"],
                           "ref_also_over_adamw": b["ref_s_per_epoch"] / a["ref_s_per_epoch"]}).dropna(how="all")
    return joined.reset_index() if len(joined) else None


if __name__ == "__main__":  # pragma: no cover
    main()
