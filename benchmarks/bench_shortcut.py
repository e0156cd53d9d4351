"""What the CPU detours of the ResNet's convolutions cost (:class:`alsofilter.training.models.PointwiseConv2d`
for the 1x1 shortcuts, :class:`alsofilter.training.models.OnePixelConv2d` for 3x3 convolutions with one output pixel).

Times a full training step (forward, backward, AdamW step) of the project's ResNet-18 in four
variants, on the same weights and data:

* ``matmul``: the shipped model, 1x1 shortcuts as a subsampling + matrix product, 3x3
  convolutions with a one-pixel output (the last stage on 8x8 digits) as a matrix product;
* ``conv_3x3``: the shipped model with every 3x3 convolution run as ``nn.Conv2d`` (the
  one-pixel detour off; before 2026-12-01);
* ``onednn_1x1``: the same model with its 1x1 shortcuts swapped back to ``nn.Conv2d`` (oneDNN
  kernels; only measured at widths where the bug cannot strike on this CPU, i.e. ``width >= 16``
  unless ``--unsafe`` is given);
* ``no_mkldnn``: ``nn.Conv2d`` shortcuts with ``torch.backends.mkldnn`` switched off for every
  convolution (the blunt fix).

Blocks of steps are timed alternately; the fastest block counts. Prints milliseconds per step and
the ratio to ``onednn_1x1``.
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from alsofilter.training.models import OnePixelConv2d, PointwiseConv2d, build_model

SHAPES = {"digits": (1, 8, 8), "cifar": (3, 32, 32)}


def as_plain_convolutions(model: nn.Module, kind: type) -> nn.Module:
    """Replace every module of exactly type ``kind`` (a detour class of the models) by an
    ``nn.Conv2d`` of the same geometry holding the same weights."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is kind:
                conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size,
                                 stride=child.stride, padding=child.padding, bias=False)
                conv.weight.data.copy_(child.weight.data)
                setattr(module, name, conv)
    return model


def with_onednn_shortcuts(model: nn.Module) -> nn.Module:
    """The 1x1 shortcuts (:class:`PointwiseConv2d`) as oneDNN convolutions."""
    return as_plain_convolutions(model, PointwiseConv2d)


def with_plain_3x3(model: nn.Module) -> nn.Module:
    """The 3x3 convolutions (:class:`OnePixelConv2d`, the one-pixel detour) as oneDNN convolutions."""
    return as_plain_convolutions(model, OnePixelConv2d)


def _step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def time_variants(width: int, shape: Sequence[int], batch_size: int = 64, steps: int = 10,
                  repeats: int = 3, unsafe: bool = False, seed: int = 0) -> pd.DataFrame:
    """Milliseconds per training step of each variant (fastest of ``repeats`` blocks)."""
    torch.manual_seed(seed)
    x = torch.randn(batch_size, *shape)
    y = torch.randint(0, 10, (batch_size,))
    base = build_model("resnet18", 10, shape[0], width)
    variants = {"matmul": (base, True),
                "conv_3x3": (with_plain_3x3(build_model("resnet18", 10, shape[0], width)), True)}
    if width >= 16 or unsafe:
        variants["onednn_1x1"] = (with_onednn_shortcuts(build_model("resnet18", 10, shape[0], width)), True)
    variants["no_mkldnn"] = (with_plain_3x3(with_onednn_shortcuts(build_model("resnet18", 10, shape[0], width))), False)
    state = base.state_dict()
    runners = {}
    for name, (model, mkldnn) in variants.items():
        model.load_state_dict(state)
        runners[name] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3), mkldnn)
    best = {name: float("inf") for name in runners}
    for block in range(repeats + 1):              # block 0 warms up
        for name, (model, optimizer, mkldnn) in runners.items():
            with torch.backends.mkldnn.flags(enabled=mkldnn):
                start = time.perf_counter()
                for _ in range(steps):
                    _step(model, optimizer, x, y)
                seconds = (time.perf_counter() - start) / steps
            if block:
                best[name] = min(best[name], seconds)
    ref = best.get("onednn_1x1")
    return pd.DataFrame([{"width": width, "input": "x".join(map(str, shape)), "batch": batch_size,
                          "variant": name, "ms_per_step": 1000 * s,
                          "vs_onednn_1x1": s / ref if ref else float("nan")} for name, s in best.items()])


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="digits:8,cifar:16,cifar:64",
                        help="comma-separated shape:width, shape in %s" % sorted(SHAPES))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--unsafe", action="store_true",
                        help="also time oneDNN 1x1 shortcuts at widths < 16 (may corrupt memory)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tables = []
    for case in args.cases.split(","):
        shape_name, width = case.split(":")
        if shape_name not in SHAPES:
            parser.error(f"unknown shape {shape_name!r} in --cases; choose from {sorted(SHAPES)}")
        tables.append(time_variants(int(width), SHAPES[shape_name], args.batch_size, args.steps,
                                    args.repeats, args.unsafe))
    table = pd.concat(tables, ignore_index=True)
    print(f"torch {torch.__version__}, {args.threads} threads, {torch.backends.cpu.get_cpu_capability()}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return table


if __name__ == "__main__":  # pragma: no cover
    main()
