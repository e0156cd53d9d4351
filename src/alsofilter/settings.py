"""Settings of a training run, importable without torch (the Snakefile reads them)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ARCHS = ("resnet18", "resnet34")
METHODS = ("adamw", "also-min", "also-max")
ALSO_MODES = ("extragrad", "optimistic", "descent-ascent")
LOSS_SOURCES = ("train", "eval")
PRECISIONS = ("fp32", "bf16")
INT_SETTINGS = ("epochs", "batch_size", "width", "eval_batch_size")

#: ``pi_lr: auto``: the authors' π step size times their number of training steps, kept constant.
#: The π update moves log π_i by −η·(N/|B|)·CE_i once per epoch (SPEC §2), so after E epochs by
#: −η·(N/|B|)·E·mean CE_i = −η·steps·mean CE_i: how far π separates samples depends on η·steps,
#: not on η alone. Authors (CIFAR-10): η = 1e-5, N = 50 000, |B| = 64, 100 epochs → 0.78125.
PI_LR_STEP_PRODUCT = 1e-5 * (50_000 / 64) * 100


#: compute of a run relative to AdamW on a ResNet-18 at equal width, data and epochs: ResNet-34
#: has about twice the multiply-adds, an ALSO extragradient step two forward/backward passes
ARCH_COST = {"resnet18": 1.0, "resnet34": 2.0}


def relative_cost(settings: dict, training_samples: int | None = None) -> float:
    """Rough compute of a training run (arbitrary units, for scheduling the longest jobs first):
    architecture × ALSO's passes per step × (width / 64)² × epochs × training samples / 50 000."""
    method, mode = settings.get("method", "adamw"), settings.get("also_mode", "extragrad")
    passes = 2.0 if method != "adamw" and mode == "extragrad" else 1.0
    width = settings.get("width", TrainConfig.width) / 64
    n = (training_samples or 50_000) / 50_000
    return ARCH_COST.get(settings.get("arch", "resnet18"), 1.0) * passes * width ** 2 * settings.get(
        "epochs", TrainConfig.epochs) * n


def resolve_pi_lr(pi_lr, num_samples: int, batch_size: int, epochs: int) -> float:
    """``pi_lr`` as a number: ``"auto"`` → :data:`PI_LR_STEP_PRODUCT` / (N/|B| · epochs), which
    gives 1e-5 at the authors' scale and keeps η·steps there on any other N, batch or epochs."""
    if pi_lr == "auto":
        return PI_LR_STEP_PRODUCT / (num_samples / batch_size * epochs)
    return float(pi_lr)


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the authors' CIFAR-10 settings, SPEC §2)."""

    method: str = "adamw"
    arch: str = "resnet18"
    width: int = 64
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    pi_lr: float | str = 1e-5          # or "auto": resolve_pi_lr
    pi_decay: float = 0.1
    also_mode: str = "extragrad"
    eps: float = 1e-20
    temperature: float = 1.0
    crop_padding: int = 4
    flip: bool = True
    loss_source: str = "train"
    eval_batch_size: int = 1024
    device: str = "auto"
    seed: int = 42
    deterministic: bool = False
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.also_mode not in ALSO_MODES:
            raise ValueError(f"also_mode must be one of {ALSO_MODES}, got {self.also_mode!r}")
        if self.loss_source not in LOSS_SOURCES:
            raise ValueError(f"loss_source must be one of {LOSS_SOURCES}, got {self.loss_source!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for key in INT_SETTINGS:
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if self.pi_lr != "auto" and (isinstance(self.pi_lr, (str, bool)) or not self.pi_lr >= 0):
            raise ValueError(f"pi_lr must be a number >= 0 or 'auto', got {self.pi_lr!r}")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)
