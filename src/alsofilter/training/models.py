"""ResNet-18/34, CIFAR variant (SPEC §6), in plain torch (no torchvision).

CIFAR variant: a 3x3 stride-1 stem, no max-pool, four stages of BasicBlocks with
widths ``w, 2w, 4w, 8w`` (``w = 64`` in the paper), strides 1-2-2-2, global average
pooling and a linear classifier. The stages are ``layer1`` … ``layer4``, as in kuangliu's
pytorch-cifar. On the CPU two detours replace oneDNN's convolution where it is broken or slow
(:class:`PointwiseConv2d`, :class:`OnePixelConv2d`); same parameters and results. ``width`` scales the whole network, so the demo can
run the same family at a fraction of the cost.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from alsofilter.config.settings import ARCHS

STAGE_BLOCKS = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}
assert tuple(STAGE_BLOCKS) == ARCHS


class PointwiseConv2d(nn.Conv2d):
    """A 1x1 convolution (no bias) that runs as a matrix product on the CPU.

    Same parameters and state_dict as ``nn.Conv2d(in, out, 1, stride, bias=False)``; on CUDA it
    *is* that convolution. On the CPU it bypasses oneDNN: the backward-weights kernel of oneDNN's
    1x1 convolution with stride > 1 ("reduce to unit stride" path) writes past its workspace when
    the input channels are fewer than the kernel's channel block (8 on AVX2, 16 on AVX-512), which
    corrupts the heap at small widths (torch 2.13.0+cpu, oneDNN 3.12; upstream:
    uxlfoundation/oneDNN#6035, "1x1 convolution backward_weights writes past the rtus workspace").
    A 1x1 convolution with stride s is a subsampling by s followed by a linear map of the
    channels, which BLAS does just as fast, so the detour costs nothing measurable (BENCHMARKS.md).

    Input ``(B, in, H, W)``, output ``(B, out, ceil(H/s), ceil(W/s))``, either memory format.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        sh, sw = self.stride
        if (sh, sw) != (1, 1):
            x = x[:, :, ::sh, ::sw]
        weight = self.weight.view(self.out_channels, self.in_channels)
        # (B, H, W, in) @ (in, out)^T -> (B, H, W, out), viewed back as (B, out, H, W)
        out = F.linear(x.permute(0, 2, 3, 1), weight).permute(0, 3, 1, 2)
        return out if channels_last else out.contiguous()   # keep the input's memory format


class OnePixelConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) that runs as a matrix product on the CPU when its output is one pixel.

    Same parameters and state_dict as ``nn.Conv2d(in, out, k, stride, padding, bias=False)``.
    When the output is 1x1 and the whole input lies inside the kernel's window (the last stage
    of a ResNet on 8x8 digits: 1x1 -> 1x1, and 2x2 -> 1x1 at stride 2), the convolution is the
    linear map of the flattened input by the window's slice of the kernel; the other taps only
    ever meet the zero padding, get zero gradient either way, and oneDNN spends most of its time
    on them (a whole demo training takes 0.84-0.90x the time with this path: BENCHMARKS.md,
    "One-pixel 3x3 convolutions"). Any other shape, and any other device, runs the convolution
    itself.

    Input ``(B, in, H, W)``, output ``(B, out, H', W')``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (ph, pw), (sh, sw) = self.kernel_size, self.padding, self.stride
        h, w = x.shape[-2:]
        single_pixel = ((h + 2 * ph - kh) // sh == 0 and (w + 2 * pw - kw) // sw == 0
                        and h + ph <= kh and w + pw <= kw)
        if x.device.type != "cpu" or not single_pixel or self.dilation != (1, 1) or self.groups != 1:
            return super().forward(x)
        window = self.weight[:, :, ph:ph + h, pw:pw + w]          # (out, in, h, w)
        # (B, in*h*w) @ (out, in*h*w)^T -> (B, out), viewed as (B, out, 1, 1)
        out = F.linear(x.reshape(x.shape[0], -1), window.reshape(self.out_channels, -1))
        return out.view(x.shape[0], self.out_channels, 1, 1)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = OnePixelConv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = OnePixelConv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                PointwiseConv2d(in_planes, planes, stride=stride),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet.

    Parameters
    ----------
    blocks : tuple of 4 ints
        BasicBlocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
    num_classes : int
    in_channels : int
        3 for RGB, 1 for grey-scale images.
    width : int
        Channels of the first stage; the paper's networks use 64.

    Input ``(B, in_channels, H, W)`` float, output logits ``(B, num_classes)``.
    """

    def __init__(self, blocks, num_classes: int = 10, in_channels: int = 3, width: int = 64):
        super().__init__()
        if len(blocks) != 4:
            raise ValueError(f"ResNet needs 4 stages, got blocks={blocks!r}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # the four stages, named as in kuangliu's pytorch-cifar (state_dict keys layer1.0.conv1.weight, ...)
        self.in_planes = width
        self.layer1 = self._make_stage(width, blocks[0], stride=1)
        self.layer2 = self._make_stage(width * 2, blocks[1], stride=2)
        self.layer3 = self._make_stage(width * 4, blocks[2], stride=2)
        self.layer4 = self._make_stage(width * 8, blocks[3], stride=2)
        self.linear = nn.Linear(self.in_planes, num_classes)
        self.register_load_state_dict_pre_hook(_stage_keys_of_flat_checkpoints)

    def _make_stage(self, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        """``n_blocks`` BasicBlocks to ``planes`` channels; the first one strides."""
        stage = []
        for b in range(n_blocks):
            stage.append(BasicBlock(self.in_planes, planes, stride if b == 0 else 1))
            self.in_planes = planes
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def _stage_keys_of_flat_checkpoints(module: ResNet, state_dict, prefix, *args) -> None:
    """Checkpoints written before the stages had names (until 2026-12-03) keep one flat list,
    ``layers.<k>.`` with k counting the blocks of all four stages; renamed in place to
    ``layer<s>.<b>.`` so that they load (same parameters, same order)."""
    flat = prefix + "layers."
    if not any(key.startswith(flat) for key in state_dict):
        return
    names = [f"layer{s}.{b}." for s in range(1, 5) for b in range(len(getattr(module, f"layer{s}")))]
    for key in [k for k in state_dict if k.startswith(flat)]:
        index, rest = key[len(flat):].split(".", 1)
        if int(index) >= len(names):
            raise ValueError(f"checkpoint key {key!r}: block {index} of a network with {len(names)} blocks")
        state_dict[prefix + names[int(index)] + rest] = state_dict.pop(key)


def build_model(arch: str, num_classes: int, in_channels: int = 3, width: int = 64) -> ResNet:
    """Build a network by name: ``resnet18`` or ``resnet34``."""
    if arch not in STAGE_BLOCKS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(STAGE_BLOCKS)}")
    return ResNet(STAGE_BLOCKS[arch], num_classes=num_classes, in_channels=in_channels, width=width)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
