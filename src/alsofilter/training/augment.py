"""Batched augmentation and normalisation on tensors (no per-sample Python work).

Images stay uint8 ``(N, C, H, W)`` on the device; a batch is drawn by index, randomly cropped
(zero padding ``p`` then an ``H×W`` window at a random offset per sample) and randomly flipped,
all with tensor indexing, then converted to normalised float.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop with zero padding, one offset per sample.

    x : (B, C, H, W) tensor (any dtype). Returns a tensor of the same shape: sample ``b`` is the
    window ``[dy_b : dy_b + H, dx_b : dx_b + W]`` of the padded image, with ``dy, dx`` uniform in
    ``0 .. 2*padding``. Equivalent to torchvision's ``RandomCrop(H, padding)`` applied per sample.
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, b), device=x.device, generator=generator)
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)          # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)          # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Horizontal flip of each sample with probability 1/2. x: (B, C, H, W)."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


class Normalize:
    """``(x / 255 - mean) / std`` per channel for uint8 batches; mean and std in [0, 1] units."""

    def __init__(self, mean, std, device, dtype=torch.float32):
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device, dtype=dtype))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device, dtype=dtype)
                      / torch.tensor(std, device=device, dtype=dtype)).view(1, -1, 1, 1)
        self.dtype = dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype) * self.scale - self.shift


def augment_batch(x: torch.Tensor, padding: int, flip: bool,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Crop then (optionally) flip a uint8 batch ``(B, C, H, W)``."""
    x = random_crop(x, padding, generator)
    if flip:
        x = random_flip(x, generator)
    return x
