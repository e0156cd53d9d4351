"""Datasets as uint8 arrays (SPEC §6).

Every loader returns an :class:`ImageDataset`: uint8 images ``(N, C, H, W)``, int64 labels, the
class names and the per-channel mean/std of the training images (in [0, 1] units) used for
normalisation. Augmentation and tensors are the training code's business.

Sources
-------
``digits``   scikit-learn's bundled 8x8 digits (no download), a fixed stratified train/test split.
``cifar10``  ``<data_dir>/cifar-10-batches-py`` (the python version from
             https://www.cs.toronto.edu/~kriz/cifar.html), training batches 1..5 in order, i.e. the
             torchvision training order that CIFAR-10N's labels refer to.
``cifar100`` ``<data_dir>/cifar-100-python``, fine labels; ``fine_to_coarse`` from the coarse ones.
plus :func:`load_npz` and :func:`load_image_folder` for one's own data.

The CIFAR files are Python pickles. They are read with a restricted unpickler that only admits the
globals needed to rebuild numpy arrays, so a tampered file cannot run code; their MD5 sums are
checked against the published ones (``verify_md5=False`` skips that, e.g. for test fixtures).
"""
from __future__ import annotations

import functools
import hashlib
import io as _io
import os
import pathlib
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ImageDataset",
    "DATASETS",
    "CIFAR10_MD5",
    "CIFAR100_MD5",
    "CIFAR_URL",
    "IMAGE_EXTENSIONS",
    "load_dataset",
    "load_digits_dataset",
    "load_cifar10",
    "load_cifar100",
    "load_npz",
    "load_image_folder",
    "image_folder_entries",
    "FORMATS",
    "cifar_files_present",
    "download_cifar",
    "dataset_metadata",
    "digits_train_size",
    "npz_train_size",
    "channel_stats",
    "safe_load_pickle",
    "RestrictedUnpickler",
]

DATASETS = ("digits", "cifar10", "cifar100")
#: what a configured dataset can be: a built-in, an .npz file or a folder of class folders
FORMATS = DATASETS + ("npz", "image_folder")

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR100_DIRNAME = "cifar-100-python"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))

CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR100_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")


# --------------------------------------------------------------------------------------------
# the dataset container


@dataclass
class ImageDataset:
    """Images as uint8 ``(N, C, H, W)``, labels as int64, plus what training needs to know."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    file_names: list[str] | None = None
    fine_to_coarse: np.ndarray | None = field(default=None)

    @property
    def in_channels(self) -> int:
        """Number of image channels (1 for grey, 3 for RGB)."""
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` of the images."""
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return 0 if self.x_test is None else int(self.x_test.shape[0])


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images ``(N, C, H, W)`` in [0, 1] units.

    Computed exactly from per-channel histograms, so it needs no float copy of the data.
    """
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"channel_stats expects uint8 (N, C, H, W) images, got {x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("channel_stats: no images")
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = np.bincount(np.ascontiguousarray(x[:, c]).ravel(), minlength=256).astype(np.float64)
        total = hist.sum()
        mean = float((hist * values).sum() / total)
        var = float((hist * (values - mean) ** 2).sum() / total)
        means.append(mean)
        stds.append(float(np.sqrt(var)))
    return tuple(means), tuple(stds)


def _make_dataset(name, x_train, y_train, x_test, y_test, num_classes, class_names,
                  file_names=None, fine_to_coarse=None) -> ImageDataset:
    mean, std = channel_stats(x_train)
    return ImageDataset(
        name=name,
        x_train=x_train,
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=x_test,
        y_test=None if y_test is None else np.asarray(y_test, dtype=np.int64),
        num_classes=int(num_classes),
        class_names=list(class_names),
        mean=mean,
        std=std,
        file_names=file_names,
        fine_to_coarse=fine_to_coarse,
    )


# --------------------------------------------------------------------------------------------
# digits


def _digits_csv() -> pathlib.Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, located without importing scikit-learn
    (importing it costs ~2 s of every job's start-up on a slow CPU); None if not found."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = pathlib.Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 (N, 1, 8, 8) and int64 labels (cached; callers index copies).
    Read from scikit-learn's shipped CSV (64 pixel values 0..16, then the label, per row)."""
    path = _digits_csv()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        pixels, target = table[:, :64].reshape(-1, 8, 8), table[:, 64]
    else:   # an unusual install: let scikit-learn find its data
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, target = bunch.images, bunch.target
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    images.flags.writeable = False
    y = target.astype(np.int64)
    y.flags.writeable = False
    return images, y


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified train/test split of ``labels`` (N,): ``ceil(test_fraction * N)``
    test samples, allotted to classes by largest remainder of ``test_fraction * class size``, the
    samples of each class chosen by ``numpy.random.default_rng(seed)``. Returns sorted
    ``(train_index, test_index)``."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    n_test = int(np.ceil(test_fraction * labels.size))
    exact = test_fraction * counts
    per_class = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - per_class), kind="stable")
    per_class[remainder_order[:n_test - per_class.sum()]] += 1
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, per_class)])
    test = np.sort(test)
    return np.setdiff1d(np.arange(labels.size), test), test


def load_digits_dataset(test_fraction: float = 0.2, split_seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits as uint8 ``(N, 1, 8, 8)`` with a fixed stratified split.

    Pixel values 0..16 become ``round(v * 255 / 16)``. The split is :func:`stratified_split`
    (seeded with ``split_seed``); both parts keep the original sample order. Defaults give 1437
    training and 360 test images, the same on every call.
    """
    if not (0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    images, y = _digits_arrays()
    train_idx, test_idx = stratified_split(y, float(test_fraction), split_seed)
    return _make_dataset(
        "digits",
        np.ascontiguousarray(images[train_idx]), y[train_idx],
        np.ascontiguousarray(images[test_idx]), y[test_idx],
        num_classes=10, class_names=[str(i) for i in range(10)],
    )


# --------------------------------------------------------------------------------------------
# safe pickles


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only the globals needed to rebuild numpy arrays.

    ``numpy.core`` (pickles from numpy < 2, such as the CIFAR files) is resolved to ``numpy._core``.
    Anything else raises ``pickle.UnpicklingError`` naming the forbidden global.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"forbidden global {module}.{name} in pickle: only numpy array reconstruction "
                f"is allowed ({', '.join(sorted(m + '.' + n for m, n in self.ALLOWED))})"
            )
        if name == "_reconstruct":
            try:  # numpy >= 2 (numpy.core is a deprecated alias there)
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """Load a (python 2, protocol 2) pickle with :class:`RestrictedUnpickler`, ``encoding='bytes'``.

    A forbidden global raises ``pickle.UnpicklingError``, any other failure ``ValueError``; both
    name the file.
    """
    path = pathlib.Path(path)
    data = path.read_bytes()
    try:
        return RestrictedUnpickler(_io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise pickle.UnpicklingError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or corrupt file
        raise ValueError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------------------------
# CIFAR


def _how_to_get(kind: str, data_dir: pathlib.Path) -> str:
    archive = "cifar-10-python.tar.gz" if kind == "cifar10" else "cifar-100-python.tar.gz"
    return (
        f"download the python version ({archive}) from {CIFAR_URL} and extract it under "
        f"{data_dir}, or set download: true on a machine with torchvision"
    )


def _md5(path: pathlib.Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve_data_dir(data_dir, kind: str) -> pathlib.Path:
    if data_dir is None:
        raise ValueError(f"{kind} needs a data_dir (the folder that holds "
                         f"{CIFAR10_DIRNAME if kind == 'cifar10' else CIFAR100_DIRNAME}/)")
    data_dir = pathlib.Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data_dir {data_dir} does not exist (or is not a directory); "
                                + _how_to_get(kind, data_dir))
    return data_dir


def _cifar_files(data_dir: pathlib.Path, dirname: str, names, md5s: dict, verify_md5: bool,
                 kind: str) -> dict[str, pathlib.Path]:
    folder = data_dir if data_dir.name == dirname else data_dir / dirname
    paths = {name: folder / name for name in names}
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(f"{kind}: missing file {path}; " + _how_to_get(kind, data_dir))
    if verify_md5:
        for name, path in paths.items():
            expected = md5s.get(name)
            if expected is None:
                continue
            actual = _md5(path)
            if actual != expected:
                raise ValueError(
                    f"{kind}: MD5 mismatch for {path}: expected {expected}, got {actual} "
                    f"(corrupt or not the original file); " + _how_to_get(kind, data_dir)
                )
    return paths


def _str_keys(obj: Any, path: pathlib.Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        out[str(key)] = value
    return out


def _get(d: dict, key: str, path: pathlib.Path) -> Any:
    if key not in d:
        raise ValueError(f"{path}: missing key {key!r} (has {', '.join(sorted(d)) or 'nothing'})")
    return d[key]


def _names(value: Any, key: str, path: pathlib.Path, expected: int) -> list[str]:
    if not isinstance(value, (list, tuple)) or len(value) != expected:
        n = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(f"{path}: {key!r} must be a list of {expected} names, got {n}")
    out = []
    for v in value:
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="replace")
        if not isinstance(v, str):
            raise ValueError(f"{path}: {key!r} must hold strings, got {type(v).__name__}")
        out.append(v)
    return out


def _cifar_batch(path: pathlib.Path, label_keys: tuple[str, ...], num_classes: dict[str, int]):
    d = _str_keys(safe_load_pickle(path), path)
    data = _get(d, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape (n, 3072), got {desc}")
    n = data.shape[0]
    labels = []
    for key in label_keys:
        raw = _get(d, key, path)
        try:
            arr = np.asarray(raw)
        except Exception:
            arr = np.asarray([], dtype=object)
        if arr.shape != (n,) or not (n == 0 or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{path}: {key!r} must be {n} integer labels, got {arr.dtype} {arr.shape}")
        arr = arr.astype(np.int64)
        c = num_classes[key]
        if n and (arr.min() < 0 or arr.max() >= c):
            raise ValueError(f"{path}: {key!r} must lie in 0..{c - 1}, found {int(arr.min())}..{int(arr.max())}")
        labels.append(arr)
    return data.reshape(n, 3, 32, 32), labels


def _meta_names(path: pathlib.Path, key: str, expected: int) -> list[str]:
    """Class names stored under ``key`` in a CIFAR meta pickle (checked to number ``expected``)."""
    meta = _str_keys(safe_load_pickle(path), path)
    return _names(_get(meta, key, path), key, path, expected)


def load_cifar10(data_dir, verify_md5: bool = True) -> ImageDataset:
    """CIFAR-10 from ``<data_dir>/cifar-10-batches-py``: 50 000 train (batches 1..5 in order),
    10 000 test, ``(N, 3, 32, 32)`` uint8."""
    data_dir = _resolve_data_dir(data_dir, "cifar10")
    names = CIFAR10_TRAIN_FILES + ("test_batch", "batches.meta")
    paths = _cifar_files(data_dir, CIFAR10_DIRNAME, names, CIFAR10_MD5, verify_md5, "cifar10")
    class_names = _meta_names(paths["batches.meta"], "label_names", 10)
    xs, ys = [], []
    for name in CIFAR10_TRAIN_FILES:
        x, (y,) = _cifar_batch(paths[name], ("labels",), {"labels": 10})
        xs.append(x)
        ys.append(y)
    x_test, (y_test,) = _cifar_batch(paths["test_batch"], ("labels",), {"labels": 10})
    return _make_dataset(
        "cifar10", np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys),
        np.ascontiguousarray(x_test), y_test, num_classes=10, class_names=class_names,
    )


def load_cifar100(data_dir, verify_md5: bool = True) -> ImageDataset:
    """CIFAR-100 from ``<data_dir>/cifar-100-python``: fine labels (100 classes);
    ``fine_to_coarse[c]`` is the superclass of fine class ``c`` (-1 if ``c`` never occurs)."""
    data_dir = _resolve_data_dir(data_dir, "cifar100")
    paths = _cifar_files(data_dir, CIFAR100_DIRNAME, ("train", "test", "meta"), CIFAR100_MD5,
                         verify_md5, "cifar100")
    fine_names = _meta_names(paths["meta"], "fine_label_names", 100)
    _meta_names(paths["meta"], "coarse_label_names", 20)
    keys = ("fine_labels", "coarse_labels")
    ncls = {"fine_labels": 100, "coarse_labels": 20}
    x_train, (y_train, c_train) = _cifar_batch(paths["train"], keys, ncls)
    x_test, (y_test, c_test) = _cifar_batch(paths["test"], keys, ncls)
    fine_to_coarse = np.full(100, -1, dtype=np.int64)
    for fine, coarse, path in ((y_train, c_train, paths["train"]), (y_test, c_test, paths["test"])):
        for f, c in set(zip(fine.tolist(), coarse.tolist())):
            if fine_to_coarse[f] not in (-1, c):
                raise ValueError(
                    f"{path}: fine class {f} ({fine_names[f]}) appears with coarse labels "
                    f"{int(fine_to_coarse[f])} and {c}"
                )
            fine_to_coarse[f] = c
    return _make_dataset(
        "cifar100", np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test,
        num_classes=100, class_names=fine_names, fine_to_coarse=fine_to_coarse,
    )


# --------------------------------------------------------------------------------------------
# one's own data


def _to_nchw(x: np.ndarray, key: str, path: pathlib.Path) -> np.ndarray:
    if x.dtype != np.uint8:
        raise ValueError(f"{path}: {key!r} must be uint8, got {x.dtype}")
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"{path}: {key!r} must have shape N x H x W or N x H x W x C, got {x.shape}")
    if x.shape[0] == 0 or min(x.shape[1:]) == 0:
        raise ValueError(f"{path}: {key!r} is empty (shape {x.shape})")
    return np.ascontiguousarray(x)


def _int_labels(y: np.ndarray, key: str, n: int, path: pathlib.Path) -> np.ndarray:
    if y.ndim != 1:
        raise ValueError(f"{path}: {key!r} must be 1-D, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: {key!r} must hold integer labels, got dtype {y.dtype}")
    if y.shape[0] != n:
        raise ValueError(f"{path}: {key!r} has {y.shape[0]} labels but there are {n} images")
    if n and y.min() < 0:
        raise ValueError(f"{path}: {key!r} labels must be >= 0, found {int(y.min())}")
    return y.astype(np.int64)


def load_npz(path) -> ImageDataset:
    """Images from a ``.npz`` file.

    Keys: ``x`` (uint8, ``N x H x W`` or channels-last ``N x H x W x C``) and ``y`` (integer labels
    0..C-1), optionally ``x_test``/``y_test`` (both or neither), ``class_names`` (strings; then
    ``num_classes = len(class_names)``, otherwise ``max label + 1`` and names ``"0", "1", ...``)
    and ``file_names`` (N strings naming each training image, e.g. its original file; they
    appear in the ranked list of suspicious samples).
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive with keys 'x' and 'y', got a single array")
    with npz:
        keys = set(npz.files)
        for key in ("x", "y"):
            if key not in keys:
                raise ValueError(f"{path}: missing key {key!r} (has {', '.join(sorted(keys)) or 'nothing'})")
        if ("x_test" in keys) != ("y_test" in keys):
            missing = "y_test" if "x_test" in keys else "x_test"
            raise ValueError(f"{path}: missing key {missing!r} (x_test and y_test go together)")
        try:
            arrays = {k: npz[k] for k in keys}
        except Exception as exc:
            raise ValueError(f"{path}: cannot read arrays ({type(exc).__name__}: {exc})") from None
    x = _to_nchw(arrays["x"], "x", path)
    y = _int_labels(arrays["y"], "y", x.shape[0], path)
    x_test = y_test = None
    if "x_test" in arrays:
        x_test = _to_nchw(arrays["x_test"], "x_test", path)
        y_test = _int_labels(arrays["y_test"], "y_test", x_test.shape[0], path)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"{path}: 'x_test' images are {x_test.shape[1:]} (C, H, W) but 'x' images are {x.shape[1:]}")
    max_label = int(max(y.max(), y_test.max() if y_test is not None and y_test.size else 0))
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise ValueError(f"{path}: 'class_names' must be a 1-D array of strings, got {names.dtype} {names.shape}")
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
        if len(class_names) <= max_label:
            raise ValueError(f"{path}: 'class_names' has {len(class_names)} names but labels go up to {max_label}")
        num_classes = len(class_names)
    else:
        num_classes = max_label + 1
        class_names = [str(i) for i in range(num_classes)]
    file_names = None
    if "file_names" in arrays:
        file_names = _string_list(arrays["file_names"], "file_names", path)
        if len(file_names) != x.shape[0]:
            raise ValueError(f"{path}: 'file_names' has {len(file_names)} entries but there are {x.shape[0]} images")
    return _make_dataset(path.stem, x, y, x_test, y_test, num_classes, class_names, file_names=file_names)


def _string_list(arr: np.ndarray, key: str, path: pathlib.Path) -> list[str]:
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise ValueError(f"{path}: {key!r} must be a 1-D array of strings, got {arr.dtype} {arr.shape}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in arr.tolist()]


def load_image_folder(root) -> ImageDataset:
    """Images in ``root/<class_name>/<file>`` (training split only; ``x_test`` is None).

    Classes are the sub-folders in sorted order, files sorted within a class; only files with an
    image extension (:data:`IMAGE_EXTENSIONS`) are read, hidden entries are skipped. All images
    must have the same size. If every image is greyscale the result has one channel, otherwise
    all are converted to RGB. ``file_names`` are relative to ``root`` (``"cat/001.png"``).
    """
    from PIL import Image, UnidentifiedImageError

    root = pathlib.Path(root).expanduser()
    classes, entries = image_folder_entries(root)

    grey_modes = {"1", "L", "I", "I;16", "F"}
    size = None
    first = None
    all_grey = True
    for path, _ in entries:
        try:
            with Image.open(path) as im:
                im_size, mode = im.size, im.mode
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read image {path}: {exc}") from None
        if size is None:
            size, first = im_size, path
        elif im_size != size:
            raise ValueError(
                f"image {path} is {im_size[0]}x{im_size[1]} (WxH) but {first} is {size[0]}x{size[1]}; "
                "all images in an image folder must have the same size"
            )
        all_grey &= mode in grey_modes

    mode = "L" if all_grey else "RGB"
    channels = 1 if all_grey else 3
    w, h = size
    x = np.empty((len(entries), channels, h, w), dtype=np.uint8)
    for i, (path, _) in enumerate(entries):
        with Image.open(path) as im:
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
        x[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    y = np.array([label for _, label in entries], dtype=np.int64)
    file_names = [p.relative_to(root).as_posix() for p, _ in entries]
    return _make_dataset(root.name, x, y, None, None, len(classes), classes, file_names=file_names)


def image_folder_entries(root) -> tuple[list[str], list[tuple[pathlib.Path, int]]]:
    """Classes (sorted sub-folder names) and ``(file, label)`` in the order
    :func:`load_image_folder` reads them, without opening any image."""
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist (or is not a directory)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {root} has no class sub-folders (expected root/<class_name>/<images>)")
    entries: list[tuple[pathlib.Path, int]] = []
    for label, cls in enumerate(classes):
        files = sorted(
            p for p in (root / cls).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise ValueError(f"class folder {root / cls} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        entries.extend((p, label) for p in files)
    return classes, entries


# --------------------------------------------------------------------------------------------
# fetching CIFAR (optional; needs torchvision)


def cifar_files_present(data_dir, kind: str) -> bool:
    """True when every file of ``kind`` (``cifar10``/``cifar100``) is under ``data_dir``."""
    if data_dir is None:
        return False
    data_dir = pathlib.Path(data_dir).expanduser()
    dirname, names = ((CIFAR10_DIRNAME, CIFAR10_TRAIN_FILES + ("test_batch", "batches.meta"))
                      if kind == "cifar10" else (CIFAR100_DIRNAME, ("train", "test", "meta")))
    folder = data_dir if data_dir.name == dirname else data_dir / dirname
    return all((folder / n).is_file() for n in names)


def download_cifar(data_dir, kind: str) -> pathlib.Path:
    """Fetch CIFAR-10/100 into ``data_dir`` with torchvision unless the files are there already.

    torchvision is imported here and nowhere else, so machines without it (the CPU path) never
    touch it. Concurrent jobs serialise on a lock file in ``data_dir``; torchvision checks the
    archive's MD5 and extracts ``cifar-10-batches-py`` / ``cifar-100-python``.
    """
    if kind not in ("cifar10", "cifar100"):
        raise ValueError(f"download: only cifar10 and cifar100 can be downloaded, not {kind!r}")
    if data_dir is None:
        raise ValueError(f"{kind}: download needs a data_dir to download into")
    data_dir = pathlib.Path(data_dir).expanduser()
    if cifar_files_present(data_dir, kind):
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(data_dir / f".{kind}.download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if cifar_files_present(data_dir, kind):  # another job fetched it meanwhile
                return data_dir
            try:
                import torchvision  # noqa: F401  (only on the download path)
                from torchvision import datasets as tv_datasets
            except ImportError as exc:
                raise FileNotFoundError(
                    f"{kind}: the files are not under {data_dir} and download: true needs torchvision, "
                    f"which cannot be imported here ({exc}); " + _how_to_get(kind, data_dir)) from None
            cls = tv_datasets.CIFAR10 if kind == "cifar10" else tv_datasets.CIFAR100
            try:
                cls(root=str(data_dir), train=True, download=True)
            except Exception as exc:
                raise RuntimeError(f"{kind}: download into {data_dir} failed ({type(exc).__name__}: {exc}); "
                                   + _how_to_get(kind, data_dir)) from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not cifar_files_present(data_dir, kind):
        raise FileNotFoundError(f"{kind}: torchvision finished but the files are not under {data_dir}")
    return data_dir


# --------------------------------------------------------------------------------------------
# metadata without loading the images


DIGITS_SIZE = 1797
CIFAR_TRAIN_SIZE = 50_000


def digits_train_size(test_fraction: float = 0.2) -> int:
    """Training-set size of :func:`load_digits_dataset` (sklearn's ``ceil(test_size * n)`` test)."""
    import math

    return DIGITS_SIZE - math.ceil(float(test_fraction) * DIGITS_SIZE)


def npz_train_size(path) -> int:
    """Number of training images of an ``.npz`` (reads only ``y``)."""
    path = pathlib.Path(path).expanduser()
    with np.load(path, allow_pickle=False) as npz:
        if "y" not in npz.files:
            raise ValueError(f"{path}: missing key 'y' (has {', '.join(sorted(npz.files)) or 'nothing'})")
        return int(np.asarray(npz["y"]).shape[0])


def dataset_metadata(fmt: str, path=None, **options) -> dict[str, Any]:
    """``class_names`` and ``file_names`` (None when the source has none) of a dataset, read
    without decoding its images (what the ranked list of suspicious samples needs)."""
    if fmt == "digits":
        return {"class_names": [str(i) for i in range(10)], "file_names": None}
    if fmt == "cifar10":
        root = _resolve_data_dir(path, "cifar10")
        folder = root if root.name == CIFAR10_DIRNAME else root / CIFAR10_DIRNAME
        return {"class_names": _meta_names(folder / "batches.meta", "label_names", 10), "file_names": None}
    if fmt == "cifar100":
        root = _resolve_data_dir(path, "cifar100")
        folder = root if root.name == CIFAR100_DIRNAME else root / CIFAR100_DIRNAME
        return {"class_names": _meta_names(folder / "meta", "fine_label_names", 100), "file_names": None}
    if fmt == "npz":
        ds_path = pathlib.Path(path).expanduser()
        with np.load(ds_path, allow_pickle=False) as npz:
            y = np.asarray(npz["y"])
            class_names = (_string_list(npz["class_names"], "class_names", ds_path)
                           if "class_names" in npz.files else None)
            file_names = (_string_list(npz["file_names"], "file_names", ds_path)
                          if "file_names" in npz.files else None)
            if class_names is None:
                top = int(y.max()) if y.size else 0
                if "y_test" in npz.files and np.asarray(npz["y_test"]).size:
                    top = max(top, int(np.asarray(npz["y_test"]).max()))
                class_names = [str(i) for i in range(top + 1)]
        return {"class_names": class_names, "file_names": file_names}
    if fmt == "image_folder":
        root = pathlib.Path(path).expanduser()
        classes, entries = image_folder_entries(root)
        return {"class_names": classes, "file_names": [p.relative_to(root).as_posix() for p, _ in entries]}
    raise ValueError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")


# --------------------------------------------------------------------------------------------
# dispatch

_OPTIONS = {
    "digits": ("test_fraction", "split_seed"),
    "cifar10": ("verify_md5",),
    "cifar100": ("verify_md5",),
    "npz": ("path",),
    "image_folder": ("path",),
}


def load_dataset(name: str, data_dir=None, **options) -> ImageDataset:
    """Load a dataset by name: one of :data:`DATASETS`.

    ``digits`` takes ``test_fraction``/``split_seed``; ``cifar10``/``cifar100`` need ``data_dir``
    and take ``verify_md5``. Also ``"npz"`` and ``"image_folder"``, whose file or folder is given
    as ``path`` (or ``data_dir``).
    """
    if name not in _OPTIONS:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
            "(and 'npz' / 'image_folder' with a path)"
        )
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        allowed = ", ".join(_OPTIONS[name]) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; allowed: {allowed}")
    if name == "digits":
        return load_digits_dataset(**options)
    if name == "cifar10":
        return load_cifar10(data_dir, **options)
    if name == "cifar100":
        return load_cifar100(data_dir, **options)
    path = options.get("path", data_dir)
    if path is None:
        raise ValueError(f"dataset {name!r} needs a path (option 'path' or data_dir)")
    if name == "npz":
        return load_npz(path)
    return load_image_folder(path)
