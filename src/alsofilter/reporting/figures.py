"""Saving figures, and what every figure shares (scenario titles).

Every figure goes to each of its paths (format from the suffix) through
:func:`alsofilter.io.atomic_path`, so a half-written figure never appears under its name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import matplotlib.pyplot as plt
import numpy as np

from alsofilter.io import atomic_path


def save_figure(fig: plt.Figure, out_paths: str | Path | Iterable[str | Path], dpi: int = 150,
                bbox_inches: str | None = "tight", rc: dict[str, Any] | None = None) -> list[Path]:
    """Save ``fig`` atomically to every path (format from the suffix), then close it.

    ``rc``: matplotlib settings while saving (the suspects gallery keeps each image tile's pixels
    in a PDF with ``{"image.composite_image": False}``)."""
    paths = [Path(out_paths)] if isinstance(out_paths, (str, Path)) else [Path(p) for p in out_paths]
    try:
        with plt.rc_context(rc or {}):
            for path in paths:
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, dpi=dpi, bbox_inches=bbox_inches, format=path.suffix.lstrip(".") or None)
    finally:
        plt.close(fig)
    return paths


def scenario_title(dataset, arch, noise, rate) -> str:
    """``digits · resnet18 · symmetric 0.4``; human labels (CIFAR-10N) have no rate."""
    if str(noise).startswith("human-"):
        return f"{dataset} · {arch} · {str(noise).replace('-', ':', 1)}"
    return f"{dataset} · {arch} · {noise} {float(rate):g}"


def fitted_range(values, pad: float = 0.08, lower: float = 0.0, upper: float = 1.0,
                 min_span: float = 0.02) -> tuple[float, float]:
    """Axis limits that fit ``values`` (NaN ignored) with ``pad`` of their span on each side,
    kept within ``[lower, upper]`` (a score or an accuracy): the differences of 0.01–0.05 that
    separate detectors stay visible, instead of an axis from 0 to 1. At least ``min_span`` wide."""
    v = np.asarray(list(values), dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return lower, upper
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < min_span:
        middle = (lo + hi) / 2
        lo, hi = middle - min_span / 2, middle + min_span / 2
    margin = pad * (hi - lo)
    return max(lower, lo - margin), min(upper + margin / 4, hi + margin)
