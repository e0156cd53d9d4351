"""How a run uses its device: precision, memory format, TF32, cuDNN autotuning, compilation.

One training setting, ``speed``, chooses between two recipes, and every part of it is written to
the run's provenance (``backends``), so a number is never quoted without them:

========================  ==========================  =====================================
part                      ``exact`` (default)          ``fast``
========================  ==========================  =====================================
network precision         fp32                        bf16 autocast (the loss in fp32)
memory format             contiguous (NCHW)           channels-last (NHWC)
TF32 for fp32 matmuls     off                         on
TF32 in cuDNN convs       off (torch's default: on)   on
========================  ==========================  =====================================

``exact`` is IEEE fp32 on every device, the arithmetic the paper's fp32 numbers assume, and it
gives the same numbers on an A100 and an H100 up to reduction order; ``fast`` is what an
H100 is built for (bf16 tensor cores), at about three decimal digits of precision in the network.
``precision`` and ``channels_last`` may still be set one by one (``auto``: from ``speed``).

``cudnn.benchmark`` (cuDNN times its algorithms on the first batches and keeps the fastest) is
on unless the run is ``deterministic``: the algorithm it picks can differ between runs, and
with it the last bits of the results. ``compile`` wraps the network in ``torch.compile``:
``reduce-overhead`` captures its forward and backward in CUDA graphs, so a step launches one
graph instead of some 300 kernels (a ResNet-18 step at batch 64 on an H100 is likely bound by
launch overhead rather than arithmetic: an estimate, not measured here); on a CPU the same modes compile C++ kernels (no graphs) and the first
steps take tens of seconds to compile.

The flags are process-wide in torch; a training job is one process and sets them once.
"""
from __future__ import annotations

from typing import Any

import torch

COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def resolved_precision(config) -> str:
    """``fp32`` or ``bf16``: ``config.precision``, or from ``config.speed`` when it is ``auto``."""
    if config.precision != "auto":
        return config.precision
    return "bf16" if config.speed == "fast" else "fp32"


def resolved_channels_last(config) -> bool:
    """``config.channels_last``, or from ``config.speed`` (fast: on) when it is ``auto``."""
    if config.channels_last != "auto":
        return bool(config.channels_last)
    return config.speed == "fast"


def apply_backend_flags(config, device: torch.device) -> dict[str, Any]:
    """Set TF32 and cuDNN autotuning for ``config`` on ``device``; returns what the run uses
    (``precision``, ``channels_last``, ``tf32_matmul``, ``tf32_cudnn``, ``cudnn_benchmark``,
    ``compile``), for its provenance. On a CPU the CUDA flags are not touched and recorded as None."""
    fast = config.speed == "fast"
    used: dict[str, Any] = {"speed": config.speed, "precision": resolved_precision(config),
                            "channels_last": resolved_channels_last(config), "compile": config.compile,
                            "tf32_matmul": None, "tf32_cudnn": None, "cudnn_benchmark": None}
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = fast
        torch.backends.cudnn.allow_tf32 = fast
        torch.backends.cudnn.benchmark = not config.deterministic
        used.update(tf32_matmul=fast, tf32_cudnn=fast, cudnn_benchmark=not config.deterministic)
    return used


def compiled(model: torch.nn.Module, mode: str):
    """``model`` wrapped by ``torch.compile(mode=mode)``, or ``model`` itself for ``none``. The
    wrapper shares the parameters and buffers (state dicts are taken from ``model``)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")
    if mode == "none":
        return model
    return torch.compile(model, mode=mode, dynamic=False)
