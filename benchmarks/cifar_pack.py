"""Real CIFAR-10 in one file that travels to a GPU machine: the JPEG bytes of the shared zip,
without the zip's per-file headers, decoded on arrival.

A device run carries at most 64 MiB with the working tree. The decoded training set (50 000 ×
3 × 32 × 32 uint8) is 154 MB; the shared ``cifar10-jpg.zip`` is 63.6 MB, of which 8.4 MB are zip
headers. A *pack* holds the same JPEG files' bytes back to back (all 60 000: 55.3 MB), so it and
the repository (about 1 MB) travel together with room to spare, and it decodes in a second or two
on 16 cores.

The pack is a plain ``.npz`` (numpy only, uncompressed: JPEG does not shrink) with, per split
``train`` and ``test``: ``<split>_jpeg`` (uint8, the files' bytes concatenated), ``<split>_offsets``
(int64 (n + 1,), where each file starts), ``<split>_labels`` (int64 (n,)); and ``classes`` (the
sorted class folder names). Files are in the order :func:`alsofilter.data.load_image_folder`
reads the extracted folder (class, then file name), and decode to the same pixels (Pillow,
RGB), so a pack is that folder's dataset (``tests/test_bench.py`` checks it).

Never commit a pack: it is derived from CIFAR-10 (``.gitignore`` ignores ``/.gpu_data/``).

    python -m benchmarks.cifar_pack ../shared/data/cifar10-jpg.zip .gpu_data/cifar10.npz
"""
from __future__ import annotations

import argparse
import io
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

import numpy as np

from alsofilter.data import ImageDataset, channel_stats
from alsofilter.io import atomic_path

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def zip_entries(archive: zipfile.ZipFile) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Classes (sorted) and, per split, ``(member name, label)`` in the image folder's order, for a
    zip of ``<root>/train/<class>/<file>`` and ``<root>/test/<class>/<file>``."""
    files: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or not name.lower().endswith(IMAGE_SUFFIXES) or parts[-3] not in SPLITS:
            continue
        files[parts[-3]].setdefault(parts[-2], []).append(name)
    classes = sorted(files["train"])
    if not classes or sorted(files["test"]) != classes:
        raise ValueError(f"{archive.filename}: expected <root>/train/<class>/<image> and <root>/test/<class>/<image> "
                         f"with the same classes; found train {classes}, test {sorted(files['test'])}")
    return classes, {s: [(n, label) for label, c in enumerate(classes)
                         for n in sorted(files[s][c], key=lambda m: PurePosixPath(m).name)] for s in SPLITS}


def first_per_class(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the first ``per_class`` samples of each class, in their order (all: None)."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    return np.flatnonzero(rank < per_class)


def pack(zip_path, out, train_per_class: int | None = None, test_per_class: int | None = None) -> dict:
    """Write the pack of ``zip_path`` to ``out`` (atomically): every image, or the first
    ``<split>_per_class`` of each class. Returns the counts and the pack's size in bytes."""
    with zipfile.ZipFile(zip_path) as archive:
        classes, entries = zip_entries(archive)
        arrays: dict[str, np.ndarray] = {"classes": np.array(classes)}
        for split, per_class in (("train", train_per_class), ("test", test_per_class)):
            items = entries[split]
            keep = first_per_class(np.array([label for _, label in items]), per_class)
            blobs = [archive.read(items[i][0]) for i in keep]
            arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
            arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
            arrays[f"{split}_labels"] = np.array([items[i][1] for i in keep], dtype=np.int64)
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return {"train": len(arrays["train_labels"]), "test": len(arrays["test_labels"]),
            "bytes": Path(out).stat().st_size, "classes": classes}


def _decode(blob: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


def decode(jpeg: np.ndarray, offsets: np.ndarray, index: Sequence[int], workers: int | None = None) -> np.ndarray:
    """Images ``index`` of a split as uint8 ``(n, 3, H, W)``, decoded by ``workers`` threads
    (Pillow's decoders release the GIL; default: every CPU)."""
    data = jpeg.tobytes()
    blobs = [data[offsets[i]:offsets[i + 1]] for i in index]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(blobs) < 512:
        images = [_decode(b) for b in blobs]
    else:
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(_decode, blobs, chunksize=256))
    return np.stack(images) if images else np.empty((0, 3, 32, 32), dtype=np.uint8)


def load(path, train_per_class: int | None = None, test_per_class: int | None = None,
         workers: int | None = None) -> ImageDataset:
    """The pack at ``path`` as an :class:`ImageDataset` (every image, or the first
    ``<split>_per_class`` of each class); mean and std from its training images."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no CIFAR-10 pack at {path}; make one with "
                                f"`python -m benchmarks.cifar_pack <cifar10-jpg.zip> {path}` (BENCHMARKS.md)")
    with np.load(path) as npz:
        arrays: Mapping[str, np.ndarray] = {k: npz[k] for k in npz.files}
    split = {}
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        keep = first_per_class(arrays[f"{name}_labels"], per_class)
        split[name] = (decode(arrays[f"{name}_jpeg"], arrays[f"{name}_offsets"], keep, workers),
                       arrays[f"{name}_labels"][keep])
    (x_train, y_train), (x_test, y_test) = split["train"], split["test"]
    mean, std = channel_stats(x_train)
    classes = [str(c) for c in arrays["classes"]]
    return ImageDataset(name=f"cifar10-pack:{Path(path).name}", x_train=x_train, y_train=y_train, x_test=x_test,
                        y_test=y_test, num_classes=len(classes), class_names=classes, mean=mean, std=std)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Pack a CIFAR-style JPEG zip into one .npz that travels "
                                                 "to a GPU machine (benchmarks/gpu_session.py).")
    parser.add_argument("zip", help="zip of <root>/train/<class>/<image> and <root>/test/<class>/<image>")
    parser.add_argument("out", help="the pack to write (.npz); keep it under an ignored folder, e.g. .gpu_data/")
    parser.add_argument("--train-per-class", type=int, default=None, help="first N images of each class (all)")
    parser.add_argument("--test-per-class", type=int, default=None, help="first N test images of each class (all)")
    args = parser.parse_args(argv)
    info = pack(args.zip, args.out, args.train_per_class, args.test_per_class)
    print(f"wrote {args.out}: {info['train']} training and {info['test']} test images, "
          f"{info['bytes'] / 2**20:.1f} MiB")
    return info


if __name__ == "__main__":  # pragma: no cover
    main()
