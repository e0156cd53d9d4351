"""Synthetic label noise (SPEC §5) and the noise table that records it.

Every noisy training set is described by a *noise table*: one row per training sample with its
``index`` (position in the training set), ``true_label``, ``noisy_label`` and ``is_noisy``
(``noisy_label != true_label``), the ground truth that detectors are scored against.

Noise models
------------
``symmetric``
    With probability ``rate`` a label is redrawn uniformly from *all* ``C`` classes, the true one
    included (the paper's convention), so the realised flip rate is ``rate * (C - 1) / C``. With
    ``include_true=False`` it is redrawn from the other ``C - 1`` classes (flip rate ``rate``).
``asymmetric``
    With probability ``rate`` a label of a mapped class becomes that class's fixed target; other
    classes never change. ``asymmetric_mapping="standard"`` uses the literature's mapping for the
    dataset (:data:`ASYMMETRIC_MAPPINGS`; CIFAR-100: next fine class within the superclass),
    ``"random-pairs"`` the authors' variant (every class gets one other class drawn at random).

All randomness comes from ``np.random.default_rng(seed)``, so a table is a pure function of its
arguments.
"""
from __future__ import annotations

import numbers
import os
import pathlib
from typing import Mapping

import numpy as np
import pandas as pd

from .io import write_bytes_atomic

__all__ = [
    "NOISE_TYPES",
    "ASYMMETRIC_MAPPINGS",
    "ASYMMETRIC_MAPPING_KINDS",
    "NOISE_TABLE_COLUMNS",
    "symmetric_noise",
    "asymmetric_noise",
    "random_pair_mapping",
    "next_in_superclass_mapping",
    "make_noisy_labels",
    "write_noise_table",
    "read_noise_table",
]

NOISE_TYPES = ("symmetric", "asymmetric")

#: Standard class-dependent mappings (source class -> target class).
#: CIFAR-10 (DivideMix, Arazo et al.): truck->automobile, bird->airplane, deer->horse, cat<->dog.
#: MNIST-style digits (Patrini et al. 2017): 2->7, 3->8, 5<->6, 7->1.
ASYMMETRIC_MAPPINGS: dict[str, dict[int, int]] = {
    "digits": {2: 7, 3: 8, 5: 6, 6: 5, 7: 1},
    "mnist": {2: 7, 3: 8, 5: 6, 6: 5, 7: 1},
    "cifar10": {9: 1, 2: 0, 4: 7, 3: 5, 5: 3},
}

ASYMMETRIC_MAPPING_KINDS = ("standard", "random-pairs")

NOISE_TABLE_COLUMNS = ("index", "true_label", "noisy_label", "is_noisy")


# --------------------------------------------------------------------------------------------
# validation helpers


def _check_rate(rate) -> float:
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise ValueError(f"noise rate must be a number in [0, 1), got {rate!r}")
    rate = float(rate)
    if not (0.0 <= rate < 1.0):  # also rejects NaN
        raise ValueError(f"noise rate must be in [0, 1), got {rate!r}")
    return rate


def _check_num_classes(num_classes) -> int:
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, numbers.Integral):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    num_classes = int(num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
    return num_classes


def _check_labels(labels, num_classes: int | None = None, what: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            pass  # integral floats are accepted
        else:
            raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size:
        upper = num_classes if num_classes is not None else None
        bad = arr < 0 if upper is None else (arr < 0) | (arr >= upper)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            allowed = "[0, num_classes)" if upper is None else f"[0, {upper})"
            raise ValueError(
                f"{what} must lie in {allowed}; found {int(arr[i])} at position {i} "
                f"({int(bad.sum())} out-of-range value(s) in total)"
            )
    return arr


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return seed


def _check_mapping(mapping: Mapping[int, int], num_classes: int | None = None) -> dict[int, int]:
    out: dict[int, int] = {}
    for src, dst in dict(mapping).items():
        for v in (src, dst):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or int(v) < 0:
                raise ValueError(f"asymmetric mapping entries must be non-negative integers, got {src!r}: {dst!r}")
            if num_classes is not None and int(v) >= num_classes:
                raise ValueError(
                    f"asymmetric mapping {int(src)} -> {int(dst)} uses class {int(v)}, "
                    f"but there are only {num_classes} classes (0..{num_classes - 1})"
                )
        out[int(src)] = int(dst)
    return out


# --------------------------------------------------------------------------------------------
# noise models


def symmetric_noise(labels, num_classes: int, rate: float, rng: np.random.Generator,
                    include_true: bool = True) -> np.ndarray:
    """Redraw each label with probability ``rate`` uniformly from all classes or the other ones.

    ``include_true=True`` (paper): from all ``C`` classes, realised flip rate ``rate*(C-1)/C``.
    ``include_true=False``: from the ``C - 1`` other classes, realised flip rate ``rate``.
    Always draws ``2 * N`` numbers from ``rng`` (``N`` uniforms, then ``N`` integers).
    """
    num_classes = _check_num_classes(num_classes)
    rate = _check_rate(rate)
    labels = _check_labels(labels, num_classes)
    n = labels.shape[0]
    corrupt = rng.random(n) < rate
    if include_true:
        new = rng.integers(0, num_classes, size=n)
    else:
        new = (labels + rng.integers(1, num_classes, size=n)) % num_classes
    return np.where(corrupt, new, labels).astype(np.int64)


def asymmetric_noise(labels, rate: float, mapping: Mapping[int, int],
                     rng: np.random.Generator) -> np.ndarray:
    """Flip each label of a mapped class to ``mapping[class]`` with probability ``rate``.

    Classes that are not keys of ``mapping`` never change. Draws ``N`` uniforms from ``rng``.
    """
    rate = _check_rate(rate)
    mapping = _check_mapping(mapping)
    labels = _check_labels(labels)
    n = labels.shape[0]
    corrupt = rng.random(n) < rate
    size = max([int(labels.max()) if n else -1] + [max(k, v) for k, v in mapping.items()]) + 1
    lut = np.arange(size, dtype=np.int64)
    for src, dst in mapping.items():
        lut[src] = dst
    return np.where(corrupt, lut[labels] if n else labels, labels).astype(np.int64)


def random_pair_mapping(num_classes: int, rng: np.random.Generator) -> dict[int, int]:
    """The authors' asymmetric variant: every class gets one fixed *other* class, drawn uniformly.

    Draws ``num_classes`` integers from ``rng``.
    """
    num_classes = _check_num_classes(num_classes)
    offsets = rng.integers(1, num_classes, size=num_classes)
    return {c: int((c + offsets[c]) % num_classes) for c in range(num_classes)}


def next_in_superclass_mapping(fine_to_coarse) -> dict[int, int]:
    """CIFAR-100 asymmetric mapping: each fine class -> the next fine class of its superclass.

    ``fine_to_coarse[c]`` is the coarse label of fine class ``c``. Within a superclass the fine
    classes are taken in increasing order and mapped cyclically (the last one to the first).
    Superclasses with a single fine class, and fine classes with a negative (unknown) coarse
    label, are left unmapped.
    """
    f2c = np.asarray(fine_to_coarse)
    if f2c.ndim != 1 or f2c.size == 0:
        raise ValueError(f"fine_to_coarse must be a non-empty 1-D array, got shape {f2c.shape}")
    if not np.issubdtype(f2c.dtype, np.integer):
        raise ValueError(f"fine_to_coarse must hold integers, got dtype {f2c.dtype}")
    mapping: dict[int, int] = {}
    for coarse in np.unique(f2c[f2c >= 0]):
        members = np.flatnonzero(f2c == coarse)  # sorted
        if members.size < 2:
            continue
        for i, fine in enumerate(members):
            mapping[int(fine)] = int(members[(i + 1) % members.size])
    return mapping


# --------------------------------------------------------------------------------------------
# the noise table


def make_noisy_labels(true_labels, num_classes: int, noise: str, rate: float, seed: int,
                      dataset: str, *, include_true: bool = True,
                      asymmetric_mapping: str = "standard",
                      fine_to_coarse=None) -> pd.DataFrame:
    """Corrupt ``true_labels`` and return the noise table.

    Columns ``index`` (0..N-1), ``true_label``, ``noisy_label`` (int64) and ``is_noisy`` (bool).
    The generator is ``np.random.default_rng(seed)``; for ``random-pairs`` the pair mapping is
    drawn from it first, then the flips. The settings and the mapping used are stored in
    ``table.attrs``.
    """
    num_classes = _check_num_classes(num_classes)
    if not isinstance(noise, str) or noise not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {noise!r}; allowed: {', '.join(NOISE_TYPES)}")
    rate = _check_rate(rate)
    seed = _check_seed(seed)
    labels = _check_labels(true_labels, num_classes, what="true labels")
    rng = np.random.default_rng(seed)

    mapping: dict[int, int] | None = None
    if noise == "symmetric":
        noisy = symmetric_noise(labels, num_classes, rate, rng, include_true=include_true)
    else:
        if asymmetric_mapping not in ASYMMETRIC_MAPPING_KINDS:
            raise ValueError(
                f"unknown asymmetric mapping {asymmetric_mapping!r}; allowed: "
                f"{', '.join(ASYMMETRIC_MAPPING_KINDS)}"
            )
        if asymmetric_mapping == "random-pairs":
            mapping = random_pair_mapping(num_classes, rng)
        elif dataset in ASYMMETRIC_MAPPINGS:
            mapping = dict(ASYMMETRIC_MAPPINGS[dataset])
        elif fine_to_coarse is not None:
            f2c = np.asarray(fine_to_coarse)
            if f2c.ndim != 1 or f2c.shape[0] != num_classes:
                raise ValueError(
                    f"fine_to_coarse must have one entry per class ({num_classes}), got shape {f2c.shape}"
                )
            mapping = next_in_superclass_mapping(f2c)
        else:
            hint = " (pass fine_to_coarse, the superclass of each fine class)" if dataset == "cifar100" else ""
            raise ValueError(
                f"no standard asymmetric mapping for dataset {dataset!r}{hint}; standard mappings "
                f"exist for {', '.join(sorted(ASYMMETRIC_MAPPINGS))} and for datasets with "
                f"superclasses (cifar100); use asymmetric_mapping='random-pairs' otherwise"
            )
        mapping = _check_mapping(mapping, num_classes)
        noisy = asymmetric_noise(labels, rate, mapping, rng)

    table = pd.DataFrame({
        "index": np.arange(labels.shape[0], dtype=np.int64),
        "true_label": labels,
        "noisy_label": noisy,
        "is_noisy": noisy != labels,
    })
    table.attrs.update({
        "dataset": dataset,
        "noise": noise,
        "rate": rate,
        "seed": seed,
        "num_classes": num_classes,
        "include_true": bool(include_true) if noise == "symmetric" else None,
        "asymmetric_mapping": asymmetric_mapping if noise == "asymmetric" else None,
        "mapping": {str(k): v for k, v in sorted(mapping.items())} if mapping is not None else None,
    })
    return table


def _validate_table(table: pd.DataFrame, source: str) -> None:
    cols = list(table.columns)
    if cols != list(NOISE_TABLE_COLUMNS):
        raise ValueError(f"{source}: expected columns {','.join(NOISE_TABLE_COLUMNS)}, got {','.join(map(str, cols))}")
    n = len(table)
    idx = table["index"].to_numpy()
    if not np.array_equal(idx, np.arange(n)):
        bad = int(np.flatnonzero(idx != np.arange(n))[0]) if idx.shape == (n,) else 0
        raise ValueError(f"{source}: column 'index' must be 0..{n - 1} in order (first mismatch at row {bad})")
    true = table["true_label"].to_numpy()
    noisy = table["noisy_label"].to_numpy()
    for name, arr in (("true_label", true), ("noisy_label", noisy)):
        if n and ((arr < 0).any()):
            raise ValueError(f"{source}: column {name!r} has negative labels (row {int(np.flatnonzero(arr < 0)[0])})")
    flags = table["is_noisy"].to_numpy().astype(bool)
    mismatch = flags != (true != noisy)
    if mismatch.any():
        row = int(np.flatnonzero(mismatch)[0])
        raise ValueError(
            f"{source}: is_noisy is inconsistent with the labels in {int(mismatch.sum())} row(s), "
            f"first at index {row} (true_label={int(true[row])}, noisy_label={int(noisy[row])}, "
            f"is_noisy={bool(flags[row])})"
        )


def write_noise_table(table: pd.DataFrame, path: str | os.PathLike) -> pathlib.Path:
    """Write the noise table as CSV, atomically and byte-for-byte deterministically.

    Header ``index,true_label,noisy_label,is_noisy``; integers only (``is_noisy`` as 0/1);
    ``\\n`` line endings.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"write_noise_table expects a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in NOISE_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"noise table for {path} lacks column(s) {', '.join(missing)}")
    table = table.loc[:, list(NOISE_TABLE_COLUMNS)]
    arrays = {}
    for col in NOISE_TABLE_COLUMNS[:3]:
        arr = table[col].to_numpy()
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"noise table for {path}: column {col!r} must be integer, got {arr.dtype}")
        arrays[col] = arr.astype(np.int64)
    flags = table["is_noisy"].to_numpy()
    if flags.dtype != bool:
        raise ValueError(f"noise table for {path}: column 'is_noisy' must be bool, got {flags.dtype}")
    _validate_table(table, f"noise table for {path}")
    lines = ["index,true_label,noisy_label,is_noisy"]
    lines.extend(
        f"{i},{t},{y},{int(b)}"
        for i, t, y, b in zip(arrays["index"].tolist(), arrays["true_label"].tolist(),
                              arrays["noisy_label"].tolist(), flags.tolist())
    )
    return write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("ascii"))


def read_noise_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a noise table written by :func:`write_noise_table`.

    Checks the header, that every value is an integer (``is_noisy`` 0/1, ``True``/``False`` also
    accepted), that ``index`` is 0..N-1 and that ``is_noisy == (true_label != noisy_label)``.
    Raises ``ValueError`` naming the file otherwise (``FileNotFoundError`` if it is missing).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"noise table {path} does not exist")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"noise table {path} is empty (expected header {','.join(NOISE_TABLE_COLUMNS)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"noise table {path} is not a valid CSV file: {exc}") from None
    if list(raw.columns) != list(NOISE_TABLE_COLUMNS):
        raise ValueError(
            f"noise table {path}: expected columns {','.join(NOISE_TABLE_COLUMNS)}, "
            f"got {','.join(map(str, raw.columns))}"
        )
    out = {}
    for col in NOISE_TABLE_COLUMNS[:3]:
        values = raw[col].str.strip()
        ok = values.str.fullmatch(r"[+-]?\d+")
        if not ok.all():
            row = int(np.flatnonzero(~ok.to_numpy())[0])
            raise ValueError(f"noise table {path}: column {col!r} must hold integers; row {row} has {raw[col].iloc[row]!r}")
        out[col] = values.astype(np.int64).to_numpy()
    flags_raw = raw["is_noisy"].str.strip()
    lookup = {"0": False, "1": True, "False": False, "True": True, "false": False, "true": True}
    ok = flags_raw.isin(list(lookup))
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise ValueError(f"noise table {path}: column 'is_noisy' must be 0 or 1; row {row} has {raw['is_noisy'].iloc[row]!r}")
    table = pd.DataFrame({
        "index": out["index"],
        "true_label": out["true_label"],
        "noisy_label": out["noisy_label"],
        "is_noisy": flags_raw.map(lookup).to_numpy(dtype=bool),
    })
    _validate_table(table, f"noise table {path}")
    return table
