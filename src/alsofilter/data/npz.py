"""One's own data as an ``.npz`` file."""
from __future__ import annotations

import pathlib

import numpy as np

from alsofilter.data.container import ImageDataset


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
    return ImageDataset.from_arrays(path.stem, x, y, x_test, y_test, num_classes, class_names, file_names=file_names)


def _string_list(arr: np.ndarray, key: str, path: pathlib.Path) -> list[str]:
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise ValueError(f"{path}: {key!r} must be a 1-D array of strings, got {arr.dtype} {arr.shape}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in arr.tolist()]


def npz_train_size(path) -> int:
    """Number of training images of an ``.npz`` (reads only ``y``)."""
    path = pathlib.Path(path).expanduser()
    with np.load(path, allow_pickle=False) as npz:
        if "y" not in npz.files:
            raise ValueError(f"{path}: missing key 'y' (has {', '.join(sorted(npz.files)) or 'nothing'})")
        return int(np.asarray(npz["y"]).shape[0])
