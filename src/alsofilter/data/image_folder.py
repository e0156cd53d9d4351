"""One's own data as a folder of class folders, with or without a test split.

Two layouts:

* one split: ``root/<class>/<file>`` — training images only (no test accuracy);
* two splits: ``root/train/<class>/<file>`` and ``root/test/<class>/<file>`` — chosen when the
  visible sub-folders of ``root`` are exactly ``train`` and ``test``. Both splits must have the
  same classes; a class in one split only is an error that names it.

Classes are the sorted folder names (the label of a class is its position), files are sorted
within a class; only files with an image extension (:data:`IMAGE_EXTENSIONS`) are read, hidden
entries are skipped. All images must have the same size. If every image is greyscale the
result has one channel, otherwise all are converted to RGB. ``file_names`` are relative to
``root`` (``"cat/001.png"``, ``"train/cat/001.png"``).

A file that cannot be decoded (truncated, not an image despite its extension) stops the load with
an error naming it; with ``skip_unreadable`` it is left out instead and reported in the
dataset's ``unreadable_files`` (large real folders nearly always hold a few).
"""
from __future__ import annotations

import os
import pathlib

import numpy as np

from alsofilter.data.container import ImageDataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
SPLITS = ("train", "test")
_GREY_MODES = {"1", "L", "I", "I;16", "F"}


def _subfolders(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_folder_layout(root) -> str:
    """``"splits"`` when ``root`` holds exactly the folders ``train`` and ``test``, else ``"flat"``."""
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist (or is not a directory)")
    return "splits" if sorted(_subfolders(root)) == sorted(SPLITS) else "flat"


def _class_files(folder: pathlib.Path, classes: list[str], label_of: dict[str, int]) -> list[tuple[pathlib.Path, int]]:
    entries: list[tuple[pathlib.Path, int]] = []
    for cls in classes:
        with os.scandir(folder / cls) as it:   # DirEntry.is_file: no stat call per file
            names = sorted(e.name for e in it if e.is_file() and not e.name.startswith(".")
                           and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)
        files = [folder / cls / n for n in names]
        if not files:
            raise ValueError(f"class folder {folder / cls} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        entries.extend((p, label_of[cls]) for p in files)
    return entries


def image_folder_entries(root) -> tuple[list[str], dict[str, list[tuple[pathlib.Path, int]]]]:
    """Classes (sorted folder names) and, per split (``"train"``, and ``"test"`` in the two-split
    layout), ``(file, label)`` in the order :func:`load_image_folder` reads them, without
    opening any image."""
    root = pathlib.Path(root).expanduser()
    layout = image_folder_layout(root)
    folders = {s: root / s for s in SPLITS} if layout == "splits" else {"train": root}
    per_split = {s: _subfolders(f) for s, f in folders.items()}
    if layout == "splits":
        train, test = set(per_split["train"]), set(per_split["test"])
        for only, here, there in ((train - test, "train", "test"), (test - train, "test", "train")):
            if only:
                raise ValueError(f"image folder {root}: class(es) {', '.join(sorted(only))} in {here}/ but not "
                                 f"in {there}/; both splits must have the same class folders")
    classes = per_split["train"]
    if not classes:
        raise ValueError(f"image folder {folders['train']} has no class sub-folders "
                         "(expected root/<class_name>/<images> or root/train/<class_name>/<images> + root/test/…)")
    label_of = {c: i for i, c in enumerate(classes)}
    return classes, {s: _class_files(f, classes, label_of) for s, f in folders.items()}


def _decode(path: pathlib.Path) -> np.ndarray:
    """One image as uint8 (H, W) for greyscale modes or (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in _GREY_MODES:
                return np.asarray(im.convert("L"), dtype=np.uint8)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None


def _try_decode(path: pathlib.Path) -> np.ndarray | str:
    """The image, or the error message when it cannot be read."""
    try:
        return _decode(path)
    except ValueError as exc:
        return str(exc)


def _decode_all(entries, workers: int, skip_unreadable: bool = False) -> list[np.ndarray | str]:
    """Each entry's image; with ``skip_unreadable`` an unreadable one gives its error message
    instead of raising."""
    paths = [p for p, _ in entries]
    decode = _try_decode if skip_unreadable else _decode
    if workers <= 1 or len(paths) < 256:
        return [decode(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor   # Pillow's decoders release the GIL

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(decode, paths, chunksize=256))


def load_image_folder(root, workers: int = 1, skip_unreadable: bool = False) -> ImageDataset:
    """Images in ``root`` (either layout, see the module doc), decoded once with ``workers``
    threads. Returns uint8 ``(N, C, H, W)``; ``x_test`` is None in the one-split layout. With
    ``skip_unreadable``, files that cannot be decoded are left out and listed, with their error,
    in the result's ``unreadable_files``; a class left without a readable image is an error."""
    root = pathlib.Path(root).expanduser()
    classes, entries = image_folder_entries(root)
    arrays = {split: _decode_all(items, int(workers), skip_unreadable) for split, items in entries.items()}
    unreadable: list[tuple[str, str]] = []
    if skip_unreadable:
        for split in list(entries):
            kept = [(entry, img) for entry, img in zip(entries[split], arrays[split]) if not isinstance(img, str)]
            unreadable += [(p.relative_to(root).as_posix(), img) for (p, _), img in zip(entries[split], arrays[split])
                           if isinstance(img, str)]
            empty = sorted(set(classes) - {classes[label] for (_, label), _ in kept})
            if empty:
                raise ValueError(f"image folder {root}: no readable image left in class folder(s) "
                                 f"{', '.join(empty)} of {split} (every file in it failed to decode)")
            entries[split], arrays[split] = [e for e, _ in kept], [img for _, img in kept]
    first_path, first = entries["train"][0][0], arrays["train"][0]
    size = first.shape[:2]
    all_grey = True
    for split, images in arrays.items():
        for (path, _), img in zip(entries[split], images):
            if img.shape[:2] != size:
                raise ValueError(f"image {path} is {img.shape[1]}x{img.shape[0]} (WxH) but {first_path} is "
                                 f"{size[1]}x{size[0]}; all images in an image folder must have the same size")
            all_grey &= img.ndim == 2
    channels = 1 if all_grey else 3

    def stack(images) -> np.ndarray:
        x = np.empty((len(images), channels, *size), dtype=np.uint8)
        for i, img in enumerate(images):
            if img.ndim == 2:
                x[i] = img[None] if channels == 1 else img[None].repeat(3, 0)   # grey among RGB: L -> RGB
            else:
                x[i] = img.transpose(2, 0, 1)
        return x

    def labels(items) -> np.ndarray:
        return np.array([label for _, label in items], dtype=np.int64)

    def names(items) -> list[str]:
        return [p.relative_to(root).as_posix() for p, _ in items]

    x_test = y_test = test_names = None
    if "test" in entries:
        x_test, y_test, test_names = stack(arrays["test"]), labels(entries["test"]), names(entries["test"])
    data = ImageDataset.from_arrays(root.name, stack(arrays["train"]), labels(entries["train"]), x_test, y_test,
                                    len(classes), classes, file_names=names(entries["train"]),
                                    test_file_names=test_names)
    data.unreadable_files = unreadable if skip_unreadable else None
    return data
