"""CIFAR-10/100 in the python-pickle format, read with a restricted unpickler and MD5 checks;
optional download with torchvision."""
from __future__ import annotations

import hashlib
import io as _io
import os
import pathlib
import pickle
from typing import Any

import numpy as np

from alsofilter.data.container import ImageDataset

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

CIFAR_TRAIN_SIZE = 50_000
#: CIFAR-10's classes in label order (also the sorted names, so an image folder of CIFAR-10
#: with these class folders has the same labels)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


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
    return ImageDataset.from_arrays(
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
    return ImageDataset.from_arrays(
        "cifar100", np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test,
        num_classes=100, class_names=fine_names, fine_to_coarse=fine_to_coarse,
    )


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


def check_cifar10_classes(class_names, source) -> None:
    """The dataset called ``cifar10`` read from another format must have CIFAR-10's classes, so
    that its labels, the standard asymmetric mapping and the paper's numbers mean what they say."""
    if list(class_names) != list(CIFAR10_CLASSES):
        raise ValueError(f"dataset 'cifar10' from {source}: its classes are {list(class_names)}, CIFAR-10's are "
                         f"{list(CIFAR10_CLASSES)}; name your own data something else than cifar10")
