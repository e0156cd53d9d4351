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
    A dataset of one's own may bring its own mapping (``custom_mapping``).
``instance``
    Instance-dependent noise (Xia et al. 2020, "Part-dependent label noise", NeurIPS; the
    instance-dependent generator most such benchmarks use), :func:`instance_noise`. Each sample
    gets a flip rate ``q_i`` from a normal with mean ``rate`` and std 0.1 truncated to [0, 1]; each
    class ``c`` a random projection ``W_c`` (D × C, standard normal; D = pixels × channels). A
    sample that flips takes a wrong label drawn from the softmax of ``x_i · W_{y_i}`` with its own
    class excluded, so the wrong label depends on the image. ``x_i``: the image in [0, 1],
    standardised per channel over the training set (what the network sees). Unlike Xia's code,
    which of the samples flip is drawn by systematic sampling (each sample still flips with
    probability exactly ``q_i``, but the number of flips is ``Σ q_i`` rounded), so the realised
    rate is the mean flip rate to within 1/N, not ± a binomial spread (±0.012 at N = 1797). The mean
    flip rate is the truncated normal's mean: the rate itself for 0.3 <= rate <= 0.7, more below
    (rate 0.1 gives 0.108, rate 0 gives 0.080; the sidecar records the realised rate).
``human:<name>``
    Real human labels (CIFAR-10N, Wei et al. 2022, licence CC BY-NC 4.0): the noisy label of every
    sample is read from a label file (:func:`read_human_labels`); ``<name>`` is one of
    :data:`HUMAN_NOISE_NAMES`. In paths the colon becomes a dash (``human-worst``), see
    :func:`canonical_noise`. There is no rate and no randomness.

All randomness comes from ``np.random.default_rng(seed)``, so a table is a pure function of its
arguments.
"""
from __future__ import annotations

import functools
import numbers
import os
import pathlib
from typing import Mapping

import numpy as np
import pandas as pd

from alsofilter.io import write_bytes_atomic
from alsofilter.data.cifar import RestrictedUnpickler

__all__ = [
    "NOISE_TYPES",
    "ASYMMETRIC_MAPPINGS",
    "ASYMMETRIC_MAPPING_KINDS",
    "NOISE_TABLE_COLUMNS",
    "symmetric_noise",
    "asymmetric_noise",
    "instance_noise",
    "INSTANCE_FLIP_STD",
    "random_pair_mapping",
    "next_in_superclass_mapping",
    "make_noisy_labels",
    "HUMAN_NOISE_NAMES",
    "HUMAN_LABEL_KEYS",
    "canonical_noise",
    "is_human_noise",
    "human_noise_name",
    "read_human_label_file",
    "read_human_labels",
    "human_noise_table",
    "write_noise_table",
    "read_noise_table",
]

NOISE_TYPES = ("symmetric", "asymmetric", "instance")

#: std of the per-sample flip rate of instance-dependent noise (Xia et al. 2020: ``norm_std`` 0.1)
INSTANCE_FLIP_STD = 0.1

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

#: Human label sets (CIFAR-10N: aggregate 9.0 %, random1 17.2 %, worst 40.2 % noisy; CIFAR-100N:
#: noisy). Each name is found in a label file under any of its keys: the CIFAR-N key first.
HUMAN_LABEL_KEYS: dict[str, tuple[str, ...]] = {
    "aggregate": ("aggre_label", "aggregate"),
    "random1": ("random_label1", "random1"),
    "random2": ("random_label2", "random2"),
    "random3": ("random_label3", "random3"),
    "worst": ("worse_label", "worst"),
    "noisy": ("noisy_label", "noisy"),
}
HUMAN_NOISE_NAMES = tuple(HUMAN_LABEL_KEYS)
#: keys that hold the clean labels in a label file (checked against the dataset's labels)
CLEAN_LABEL_KEYS = ("clean_label", "clean")
HUMAN_LABEL_SUFFIXES = (".pt", ".pth", ".npy", ".npz", ".csv")


def canonical_noise(noise: str) -> str:
    """The path-safe name of a noise type: ``human:worst`` → ``human-worst``; synthetic types
    unchanged. Raises ``ValueError`` naming the allowed values for anything else."""
    if isinstance(noise, str):
        if noise in NOISE_TYPES:
            return noise
        for sep in (":", "-"):
            prefix = f"human{sep}"
            if noise.startswith(prefix) and noise[len(prefix):] in HUMAN_LABEL_KEYS:
                return f"human-{noise[len(prefix):]}"
    allowed = list(NOISE_TYPES) + [f"human:{n}" for n in HUMAN_NOISE_NAMES]
    raise ValueError(f"unknown noise type {noise!r}; allowed: {', '.join(allowed)}")


def is_human_noise(noise: str) -> bool:
    """True for ``human:<name>`` / ``human-<name>``."""
    return isinstance(noise, str) and (noise.startswith("human:") or noise.startswith("human-"))


def human_noise_name(noise: str) -> str:
    """``human:worst`` / ``human-worst`` → ``worst``."""
    return canonical_noise(noise)[len("human-"):]


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


def instance_noise(labels, images, num_classes: int, rate: float, rng: np.random.Generator,
                   flip_std: float = INSTANCE_FLIP_STD) -> tuple[np.ndarray, np.ndarray]:
    """Instance-dependent noise (Xia et al. 2020): ``(noisy labels (N,) int64, flip rates (N,))``.

    images : (N, ...) uint8 (or float in [0, 1]), one row per sample; flattened to D features,
    scaled to [0, 1] and standardised per channel (axis 1 of (N, C, H, W); all features of other
    shapes together) over these N samples. Draws, in this order: N flip rates
    ``q ~ TruncNorm(rate, flip_std, [0, 1])`` (``scipy.stats.truncnorm``), the projections ``W``
    (C, D, C) standard normal, a permutation and one uniform (systematic sampling of the flips:
    sample i flips with probability ``q_i``, exactly ``floor`` or ``ceil`` of ``Σ q`` flip), and N
    uniforms for the wrong labels (inverse CDF of the softmax of ``x_i · W_{y_i}`` over the other
    classes). Rate 0 flips nothing (and draws nothing).
    """
    from scipy.special import softmax
    from scipy.stats import truncnorm

    num_classes = _check_num_classes(num_classes)
    rate = _check_rate(rate)
    labels = _check_labels(labels, num_classes)
    x = np.asarray(images)
    n = labels.shape[0]
    if x.shape[0] != n or x.ndim < 2:
        raise ValueError(f"instance noise needs one image per label: images have shape {x.shape}, "
                         f"there are {n} labels")
    if rate == 0.0 or n == 0:
        return labels.copy(), np.zeros(n)
    scale = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    x = x.astype(np.float32) / np.float32(scale)
    channel_axes = (0, 2, 3) if x.ndim == 4 else tuple(range(x.ndim))
    mean = x.mean(axis=channel_axes, keepdims=True)
    std = x.std(axis=channel_axes, keepdims=True)
    x = ((x - mean) / np.where(std > 0, std, 1.0)).reshape(n, -1)
    lo, hi = (0.0 - rate) / flip_std, (1.0 - rate) / flip_std
    flip_rate = truncnorm(lo, hi, loc=rate, scale=flip_std).rvs(size=n, random_state=rng)
    projection = rng.standard_normal((num_classes, x.shape[1], num_classes)).astype(np.float32)
    # systematic sampling: sample i is chosen with probability flip_rate[i], Σ flip_rate in all
    order = rng.permutation(n)
    cumulative = np.cumsum(flip_rate[order])
    start = rng.random()
    chosen = np.floor(cumulative - start) > np.floor(cumulative - flip_rate[order] - start)
    flips = np.zeros(n, dtype=bool)
    flips[order[chosen]] = True
    logits = np.empty((n, num_classes), dtype=np.float64)
    for c in range(num_classes):                  # per class: (N_c, D) @ (D, C)
        rows = np.flatnonzero(labels == c)
        if rows.size:
            logits[rows] = x[rows] @ projection[c]
    logits[np.arange(n), labels] = -np.inf       # own class excluded (Xia et al.: -inf)
    wrong_prob = softmax(logits, axis=1)
    u = rng.random(n)
    wrong = np.minimum((np.cumsum(wrong_prob, axis=1) < u[:, None]).sum(1), num_classes - 1)
    wrong = np.where(wrong == labels, (labels + 1) % num_classes, wrong)   # u ~ 1 rounding guard
    return np.where(flips, wrong, labels).astype(np.int64), flip_rate


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
                      fine_to_coarse=None, custom_mapping: Mapping[int, int] | None = None,
                      images=None) -> pd.DataFrame:
    """Corrupt ``true_labels`` and return the noise table.

    Columns ``index`` (0..N-1), ``true_label``, ``noisy_label`` (int64) and ``is_noisy`` (bool).
    The generator is ``np.random.default_rng(seed)``; for ``random-pairs`` the pair mapping is
    drawn from it first, then the flips. With ``asymmetric_mapping="standard"``, the mapping is
    ``custom_mapping`` when given, else the dataset's standard one. The settings and the mapping
    used are stored in ``table.attrs``. ``instance`` noise needs the training ``images``
    (N, C, H, W) (:func:`instance_noise`). Human noise is :func:`human_noise_table`.
    """
    num_classes = _check_num_classes(num_classes)
    if not isinstance(noise, str) or noise not in NOISE_TYPES:
        hint = " (human noise: use human_noise_table)" if is_human_noise(noise) else ""
        raise ValueError(f"unknown noise type {noise!r}; allowed: {', '.join(NOISE_TYPES)}{hint}")
    rate = _check_rate(rate)
    seed = _check_seed(seed)
    labels = _check_labels(true_labels, num_classes, what="true labels")
    rng = np.random.default_rng(seed)

    mapping: dict[int, int] | None = None
    if noise == "symmetric":
        noisy = symmetric_noise(labels, num_classes, rate, rng, include_true=include_true)
    elif noise == "instance":
        if images is None:
            raise ValueError("instance noise depends on the images: pass images (N, C, H, W)")
        noisy, _ = instance_noise(labels, images, num_classes, rate, rng)
    else:
        if asymmetric_mapping not in ASYMMETRIC_MAPPING_KINDS:
            raise ValueError(
                f"unknown asymmetric mapping {asymmetric_mapping!r}; allowed: "
                f"{', '.join(ASYMMETRIC_MAPPING_KINDS)}"
            )
        if asymmetric_mapping == "random-pairs":
            mapping = random_pair_mapping(num_classes, rng)
        elif custom_mapping is not None:
            mapping = dict(custom_mapping)
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
        "flip_std": INSTANCE_FLIP_STD if noise == "instance" else None,
        "mapping": {str(k): v for k, v in sorted(mapping.items())} if mapping is not None else None,
    })
    return table


# --------------------------------------------------------------------------------------------
# human labels (CIFAR-10N / CIFAR-100N)

CIFAR_N_URL = "https://github.com/UCSC-REAL/cifar-10-100n"


class _TensorInPickle(Exception):
    """The pickle references torch storages (tensors): it needs torch's own loader."""


def _torch_saved_object(path: pathlib.Path):
    """The object of a ``torch.save`` file.

    A file of numpy arrays and plain values (CIFAR-10N's ``CIFAR-10_human.pt``) is read without
    torch, with :class:`~alsofilter.data.RestrictedUnpickler` on the archive's ``data.pkl``, so
    it can never run code. Files with tensors, or in torch's legacy format, go to
    ``torch.load(weights_only=True)`` with numpy arrays allow-listed.
    """
    import io as _io
    import zipfile

    class _Unpickler(RestrictedUnpickler):
        def persistent_load(self, pid):
            raise _TensorInPickle

        def find_class(self, module, name):
            if module == "torch" or module.startswith("torch."):
                raise _TensorInPickle
            return super().find_class(module, name)

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            if len(members) != 1:
                raise ValueError(f"{path}: not a torch.save archive (no single data.pkl inside)")
            payload = archive.read(members[0])
        try:
            return _Unpickler(_io.BytesIO(payload)).load()
        except _TensorInPickle:
            pass
    import torch  # only for tensors or the legacy format

    try:
        from numpy._core import multiarray as _ma
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as _ma
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    allowed = [_ma._reconstruct, (_ma._reconstruct, "numpy.core.multiarray._reconstruct"),
               np.ndarray, np.dtype, *dtypes]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


def _file_key(path: pathlib.Path) -> tuple:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def read_human_label_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All label columns of a human-label file, as 1-D arrays keyed by column name.

    Formats (by suffix): ``.pt``/``.pth`` a ``torch.save``-d dict of arrays or tensors (CIFAR-10N's
    ``CIFAR-10_human.pt``: ``clean_label``, ``aggre_label``, ``worse_label``, ``random_label1..3``);
    ``.npz`` one array per key; ``.npy`` a structured array with one field per column; ``.csv`` a
    header row and one column per name. Column names are the CIFAR-N keys or the plain names of
    :data:`HUMAN_LABEL_KEYS` (``worst``, ``aggregate``, ...). Raises ``FileNotFoundError`` or
    ``ValueError`` naming the file.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"human label file {path} does not exist; CIFAR-10N's "
                                f"CIFAR-10_human.pt is at {CIFAR_N_URL} (licence CC BY-NC 4.0)")
    return dict(_read_human_label_file(*_file_key(path)))


@functools.lru_cache(maxsize=8)
def _read_human_label_file(resolved: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    path = pathlib.Path(resolved)
    suffix = path.suffix.lower()
    try:
        if suffix in (".pt", ".pth"):
            obj = _torch_saved_object(path)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a dict of label arrays, got {type(obj).__name__}")
            columns = {}
            for key, value in obj.items():
                if hasattr(value, "detach"):  # a torch tensor
                    value = value.detach().cpu().numpy()
                columns[key.decode() if isinstance(key, bytes) else str(key)] = value
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                columns = {k: npz[k] for k in npz.files}
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.dtype.names is None:
                raise ValueError("a .npy label file must be a structured array with one named field per "
                                 f"label set (e.g. {', '.join(HUMAN_NOISE_NAMES)}), got dtype {arr.dtype}")
            columns = {name: arr[name] for name in arr.dtype.names}
        elif suffix == ".csv":
            frame = pd.read_csv(path)
            columns = {str(c): frame[c].to_numpy() for c in frame.columns}
        else:
            raise ValueError(f"unsupported suffix {suffix!r}; allowed: {', '.join(HUMAN_LABEL_SUFFIXES)}")
    except FileNotFoundError:
        raise
    except Exception as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(str(path)) else f"human label file {path}: {msg}") from None
    out = {}
    for key, value in columns.items():
        try:
            arr = np.asarray(value)
        except Exception:  # pragma: no cover - exotic objects
            continue
        if arr.ndim == 1 and arr.size and (np.issubdtype(arr.dtype, np.integer) or (
                np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))):
            out[key] = arr.astype(np.int64)
    return out


def _find_column(columns: Mapping[str, np.ndarray], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in columns:
            return key
    return None


def read_human_labels(path: str | os.PathLike, noise: str, num_samples: int | None = None,
                      num_classes: int | None = None, what: str = "noise_options.human_labels",
                      dataset: str | None = None) -> np.ndarray:
    """The human labels of ``noise`` (``human:worst``, ``human-worst`` or ``worst``) from ``path``.

    Checks that the column exists, holds integers, has ``num_samples`` entries and lies in
    ``[0, num_classes)`` when those are given; every error names the file and ``what`` (the
    config key that named it).
    """
    name = noise if noise in HUMAN_LABEL_KEYS else human_noise_name(noise)
    path = pathlib.Path(path).expanduser()
    try:
        columns = read_human_label_file(path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"config key {what}: {exc}") from None
    key = _find_column(columns, HUMAN_LABEL_KEYS[name])
    if key is None:
        raise ValueError(f"config key {what}: human label file {path} has no labels for "
                         f"'human:{name}' (looked for column {' or '.join(map(repr, HUMAN_LABEL_KEYS[name]))}; "
                         f"integer columns in the file: {', '.join(sorted(columns)) or 'none'})")
    labels = columns[key]
    of = f" of dataset {dataset!r}" if dataset else ""
    if num_samples is not None and labels.shape[0] != int(num_samples):
        raise ValueError(f"config key {what}: human label file {path}, column {key!r} has "
                         f"{labels.shape[0]} labels but the training set{of} has {int(num_samples)} "
                         "samples (the labels must follow the training set's order)")
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"config key {what}: human label file {path}, column {key!r} holds labels "
                         f"{int(labels.min())}..{int(labels.max())}; allowed: 0..{int(num_classes) - 1}")
    return labels


def human_noise_table(true_labels, num_classes: int, noise: str, path: str | os.PathLike,
                      dataset: str, what: str = "noise_options.human_labels") -> pd.DataFrame:
    """The noise table of human noise ``noise``: noisy labels from the label file ``path``.

    If the file also holds the clean labels (``clean_label``), they must equal ``true_labels``:
    otherwise the file does not follow the training set's order (CIFAR-10N follows torchvision's
    order, training batches 1..5).
    """
    num_classes = _check_num_classes(num_classes)
    labels = _check_labels(true_labels, num_classes, what="true labels")
    noisy = read_human_labels(path, noise, labels.shape[0], num_classes, what=what, dataset=dataset)
    columns = read_human_label_file(path)
    clean_key = _find_column(columns, CLEAN_LABEL_KEYS)
    if clean_key is not None:
        clean = columns[clean_key]
        if clean.shape != labels.shape or not np.array_equal(clean, labels):
            bad = int((clean != labels).sum()) if clean.shape == labels.shape else labels.shape[0]
            raise ValueError(f"config key {what}: human label file {path}: its {clean_key!r} differs from "
                             f"the labels of dataset {dataset!r} at {bad} of {labels.shape[0]} samples; the file "
                             "must follow the training set's order (CIFAR-10N: torchvision's, batches 1..5)")
    name = human_noise_name(noise) if noise not in HUMAN_LABEL_KEYS else noise
    table = pd.DataFrame({
        "index": np.arange(labels.shape[0], dtype=np.int64),
        "true_label": labels,
        "noisy_label": noisy.astype(np.int64),
        "is_noisy": noisy != labels,
    })
    table.attrs.update({"dataset": dataset, "noise": f"human-{name}", "rate": None, "seed": None,
                        "num_classes": num_classes, "human_labels": str(path), "mapping": None})
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
