"""Image folders with a test split, stratified subsets, the prepared-dataset cache and its
invalidation, pi_lr: auto — and the real CIFAR-10 JPEG files when ../shared/data has them."""
from __future__ import annotations

import json
import os
import pathlib
import zipfile

import numpy as np
import pytest

from alsofilter import data as D
from alsofilter.data.fingerprint import source_fingerprint
from alsofilter.data.subset import check_subset
from alsofilter.stages.prepare_data import prepare_dataset
from alsofilter.config.settings import PI_LR_STEP_PRODUCT, TrainConfig, resolve_pi_lr
from conftest import write_image_folder_fixture

REPO = pathlib.Path(__file__).resolve().parents[1]
CIFAR_JPG_ZIP = REPO.parent / "shared" / "data" / "cifar10-jpg.zip"


def split_folder(root, classes=("cat", "dog", "frog"), train=6, test=3, size=(7, 5), mode="RGB"):
    write_image_folder_fixture(pathlib.Path(root) / "train", classes, per_class=train, size=size, mode=mode, seed=1)
    write_image_folder_fixture(pathlib.Path(root) / "test", classes, per_class=test, size=size, mode=mode, seed=2)
    return pathlib.Path(root)


# ------------------------------------------------------------------------------ image folders
def test_image_folder_with_test_split(tmp_path):
    from PIL import Image

    root = split_folder(tmp_path / "imgs", classes=("dog", "cat", "frog"))
    assert D.image_folder_layout(root) == "splits"
    ds = D.load_image_folder(root)
    assert ds.class_names == ["cat", "dog", "frog"]            # sorted, the same in both splits
    assert ds.x_train.shape == (18, 3, 5, 7) and ds.x_test.shape == (9, 3, 5, 7)
    assert ds.y_train.tolist() == [0] * 6 + [1] * 6 + [2] * 6 and ds.y_test.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert ds.file_names[0] == "train/cat/cat_0.png" and ds.test_file_names[-1] == "test/frog/frog_2.png"
    with Image.open(root / "test" / "dog" / "dog_1.png") as im:
        assert np.array_equal(ds.x_test[4].transpose(1, 2, 0), np.asarray(im.convert("RGB")))
    # decoding with threads gives the same arrays
    many = split_folder(tmp_path / "many", train=100, test=2)
    one, four = D.load_image_folder(many, workers=1), D.load_image_folder(many, workers=4)
    assert np.array_equal(one.x_train, four.x_train) and np.array_equal(one.x_test, four.x_test)


def test_image_folder_split_class_mismatch_is_named(tmp_path):
    root = split_folder(tmp_path / "imgs")
    write_image_folder_fixture(root / "test", ("horse",), per_class=1, size=(7, 5))
    with pytest.raises(ValueError, match=r"horse in test/ but not in train/"):
        D.load_image_folder(root)
    root2 = split_folder(tmp_path / "imgs2")
    write_image_folder_fixture(root2 / "train", ("ship",), per_class=1, size=(7, 5))
    with pytest.raises(ValueError, match=r"ship in train/ but not in test/"):
        D.load_image_folder(root2)


def test_image_folder_split_size_mismatch(tmp_path):
    from PIL import Image

    root = split_folder(tmp_path / "imgs")
    Image.new("RGB", (9, 9)).save(root / "test" / "cat" / "big.png")
    with pytest.raises(ValueError, match="big.png.*same size"):
        D.load_image_folder(root)


def test_image_folder_flat_layout_unchanged_and_grey(tmp_path):
    root = write_image_folder_fixture(tmp_path / "flat", per_class=2)
    assert D.image_folder_layout(root) == "flat"
    ds = D.load_image_folder(root)
    assert ds.x_test is None and ds.file_names[0] == "cat/cat_0.png"
    grey = split_folder(tmp_path / "grey", mode="L")
    ds = D.load_image_folder(grey)
    assert ds.in_channels == 1 and ds.x_test.shape[1] == 1


# ------------------------------------------------------------------------------ subsets
def test_stratified_subset_deterministic_and_stratified():
    labels = np.repeat(np.arange(10), [500, 400, 300, 200, 100, 500, 500, 500, 500, 500])
    a = D.stratified_subset(labels, 800, seed=3)
    b = D.stratified_subset(labels, 800, seed=3)
    c = D.stratified_subset(labels, 800, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.size == 800 and np.all(np.diff(a) > 0)              # sorted, no repeats
    share = np.bincount(labels[a], minlength=10) / 800
    full = np.bincount(labels, minlength=10) / labels.size
    assert np.abs(share - full).max() <= 1 / 800 + 1e-12          # each class within one sample of its share
    for bad in (0, labels.size + 1, 2.5, True):
        with pytest.raises(ValueError, match="subset size"):
            D.stratified_subset(labels, bad, seed=0)


def test_subset_dataset_keeps_source_index(tmp_path):
    ds = D.load_image_folder(split_folder(tmp_path / "imgs", train=10, test=5))
    sub = D.subset_dataset(ds, train=15, test=6, seed=1)
    assert sub.num_train == 15 and sub.num_test == 6
    assert np.bincount(sub.y_train).tolist() == [5, 5, 5] and np.bincount(sub.y_test).tolist() == [2, 2, 2]
    assert np.array_equal(sub.x_train, ds.x_train[sub.source_index])
    assert np.array_equal(sub.x_test, ds.x_test[sub.test_source_index])
    assert sub.file_names == [ds.file_names[i] for i in sub.source_index]
    assert sub.mean == D.channel_stats(np.ascontiguousarray(sub.x_train))[0]
    with pytest.raises(ValueError, match="train=31 but dataset"):
        D.subset_dataset(ds, train=31)
    with pytest.raises(ValueError, match="too small: classes"):
        D.subset_dataset(ds, train=2)
    flat = D.load_image_folder(write_image_folder_fixture(tmp_path / "flat", per_class=3))
    with pytest.raises(ValueError, match="no test split"):
        D.subset_dataset(flat, test=2)


def test_check_subset_errors():
    assert check_subset(None) is None
    assert check_subset({"train": 10}) == {"train": 10, "test": None, "seed": 0}
    for bad, msg in (({"train": 0}, "positive integer"), ({"trian": 3}, "unknown key"), ({}, "give train"),
                     ({"train": 5, "seed": -1}, "seed"), ([1], "mapping")):
        with pytest.raises(ValueError, match=msg):
            check_subset(bad, "datasets.x.subset")


# ------------------------------------------------------------------------------ the cache
def test_prepared_roundtrip_is_memory_mapped(tmp_path):
    root = split_folder(tmp_path / "imgs", train=10, test=4)
    out = tmp_path / "prepared"
    written = prepare_dataset("mine", out, dataset_options={"format": "image_folder", "path": str(root)},
                              subset={"train": 12, "test": 6, "seed": 2}, threads=2)
    assert sorted(p.name for p in out.iterdir()) == sorted(D.prepared.FILES)
    ds = D.load_prepared(out)
    assert isinstance(ds.x_train, np.memmap) and not ds.x_train.flags.writeable
    assert np.array_equal(ds.x_train, written.x_train) and np.array_equal(ds.y_test, written.y_test)
    assert ds.file_names == written.file_names and ds.class_names == ["cat", "dog", "frog"]
    assert np.array_equal(ds.source_index, written.source_index) and ds.mean == written.mean
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["subset"] == {"train": 12, "test": 6, "seed": 2}
    assert meta["source_sizes"] == {"train": 30, "test": 12} and meta["format"] == "image_folder"
    assert meta["source_fingerprint"] == source_fingerprint("image_folder", str(root))
    # loading through the pipeline's entry point, and its metadata without decoding
    from alsofilter.data.loading import load_pipeline_dataset

    again = load_pipeline_dataset("mine", None, {"format": "prepared", "path": str(out)})
    assert np.array_equal(again.x_test, ds.x_test)
    assert D.dataset_metadata("prepared", out)["file_names"] == written.file_names


def test_an_unreadable_image_fails_by_default_and_is_skipped_listed_and_logged_on_request(tmp_path, caplog):
    import logging

    import pandas as pd

    from alsofilter.config import ConfigError, check_config

    root = split_folder(tmp_path / "imgs", train=5, test=2)
    (root / "train" / "dog" / "dog_2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")   # a real folder's broken file
    (root / "test" / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="cannot read image .*dog_2.png"):
        D.load_image_folder(root)
    with pytest.raises(ValueError, match="cannot read image"):
        prepare_dataset("mine", tmp_path / "strict", dataset_options={"format": "image_folder", "path": str(root)})
    out = tmp_path / "prepared"
    options = {"format": "image_folder", "path": str(root), "skip_unreadable": True}
    with caplog.at_level(logging.WARNING, logger="alsofilter.stages.prepare_data"):
        data = prepare_dataset("mine", out, dataset_options=options)
    assert (data.num_train, data.num_test) == (14, 6) and "train/dog/dog_2.png" not in data.file_names
    listed = pd.read_csv(out / "unreadable_files.csv")
    assert listed["file_name"].tolist() == ["train/dog/dog_2.png", "test/cat/broken.jpg"]
    assert listed["error"].str.contains("cannot read image").all()
    assert json.loads((out / "dataset.json").read_text())["unreadable_files"] == 2
    assert "left out 2 unreadable file(s)" in caplog.text
    assert D.load_prepared(out).num_train == 14
    # once the files are fixed, the list goes with them
    (root / "train" / "dog" / "dog_2.png").unlink()
    (root / "test" / "cat" / "broken.jpg").unlink()
    prepare_dataset("mine", out, dataset_options=options)
    assert not (out / "unreadable_files.csv").exists()
    # the setting is image folders' only
    base = {"experiment": "x", "scenarios": [{"dataset": "mine", "arch": "resnet18", "noise": "symmetric", "rate": 0.0}],
            "methods": ["adamw"], "seeds": [1], "signals": ["loss"], "training": {"batch_size": 4}}
    check_config({**base, "datasets": {"mine": {"format": "image_folder", "path": str(root),
                                                "options": {"skip_unreadable": True}}}}, check_files=False)
    with pytest.raises(ConfigError, match="skip_unreadable"):
        check_config({**base, "datasets": {"mine": {"format": "npz", "path": "x.npz",
                                                    "options": {"skip_unreadable": True}}}}, check_files=False)


def test_prepared_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        D.load_prepared(tmp_path)
    out = tmp_path / "p"
    prepare_dataset("digits", out)
    meta = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        D.load_prepared(out)
    (out / "dataset.json").write_text(json.dumps(meta))
    (out / "y_test.npy").unlink()
    with pytest.raises(FileNotFoundError, match="y_test.npy is missing"):
        D.load_prepared(out)


def test_fingerprint_follows_the_source(tmp_path):
    root = split_folder(tmp_path / "imgs")
    first = source_fingerprint("image_folder", str(root))
    assert source_fingerprint("image_folder", str(root)) == first
    img = root / "train" / "cat" / "cat_0.png"
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))     # touched / replaced
    touched = source_fingerprint("image_folder", str(root))
    assert touched != first
    (root / "test" / "dog" / "dog_0.png").unlink()                        # removed
    assert source_fingerprint("image_folder", str(root)) not in (first, touched)
    assert source_fingerprint("digits") == source_fingerprint("digits")
    assert source_fingerprint("digits", options={"test_fraction": 0.3}) != source_fingerprint("digits")


def test_cifar10_name_needs_cifar10_classes(tmp_path):
    root = split_folder(tmp_path / "imgs")
    with pytest.raises(ValueError, match="name your own data something else"):
        prepare_dataset("cifar10", tmp_path / "p", dataset_options={"format": "image_folder", "path": str(root)})


# ------------------------------------------------------------------------------ pi_lr: auto
def test_pi_lr_auto_keeps_the_authors_step_product():
    assert resolve_pi_lr("auto", 50_000, 64, 100) == pytest.approx(1e-5)       # the authors' setting
    assert resolve_pi_lr("auto", 5_000, 64, 20) == pytest.approx(1e-5 * 10 * 5)  # 10x fewer samples, 5x fewer epochs
    n, b, e = 1437, 64, 30
    assert resolve_pi_lr("auto", n, b, e) * (n / b) * e == pytest.approx(PI_LR_STEP_PRODUCT)
    assert resolve_pi_lr(3e-3, n, b, e) == 3e-3
    TrainConfig(pi_lr="auto")
    with pytest.raises(ValueError, match="pi_lr"):
        TrainConfig(pi_lr="fast")


def test_trainer_resolves_pi_lr_auto():
    from alsofilter.training.trainer import Trainer

    ds = D.load_digits_dataset()
    sub = D.subset_dataset(ds, train=300, test=50, seed=0)
    cfg = TrainConfig(method="also-min", width=2, epochs=2, batch_size=50, pi_lr="auto", device="cpu",
                      crop_padding=0, flip=False)
    trainer = Trainer(sub, sub.y_train, sub.y_train, cfg)
    assert trainer.pi_lr == pytest.approx(PI_LR_STEP_PRODUCT / (300 / 50 * 2))
    assert trainer.optimizer.pi_lr == pytest.approx(trainer.pi_lr)


# ------------------------------------------------------------------------------ real CIFAR-10 JPEGs
@pytest.fixture(scope="module")
def real_cifar_slice(tmp_path_factory):
    """300 real training and 100 real test JPEG files of CIFAR-10 (30 / 10 per class), extracted
    from ../shared/data/cifar10-jpg.zip into the layout the archive has."""
    if not CIFAR_JPG_ZIP.is_file():
        pytest.skip(f"{CIFAR_JPG_ZIP} is not here (only the development machine has it)")
    root = tmp_path_factory.mktemp("cifar_jpg")
    with zipfile.ZipFile(CIFAR_JPG_ZIP) as zf:
        names = [n for n in zf.namelist() if n.endswith(".jpg")]
        keep = []
        for split, per_class in (("train", 30), ("test", 10)):
            for cls in D.cifar.CIFAR10_CLASSES:
                prefix = f"cifar10-jpg/{split}/{cls}/"
                keep += sorted(n for n in names if n.startswith(prefix))[:per_class]
        for name in keep:
            zf.extract(name, root)
    return root / "cifar10-jpg"


def test_real_cifar10_jpeg_files(real_cifar_slice, tmp_path):
    ds = D.load_image_folder(real_cifar_slice, workers=2)
    assert ds.class_names == list(D.cifar.CIFAR10_CLASSES)
    assert ds.x_train.shape == (300, 3, 32, 32) and ds.x_test.shape == (100, 3, 32, 32)
    assert np.bincount(ds.y_train).tolist() == [30] * 10 and np.bincount(ds.y_test).tolist() == [10] * 10
    assert ds.file_names[0] == "train/airplane/0000.jpg"
    # real photographs, not noise: channel means near CIFAR-10's (0.491, 0.482, 0.447), blue lowest
    assert np.allclose(ds.mean, (0.4914, 0.4822, 0.4465), atol=0.06) and ds.mean[2] < ds.mean[0]
    assert 0.15 < min(ds.std) and max(ds.std) < 0.35
    prepared = prepare_dataset("cifar10", tmp_path / "p", dataset_options={"format": "image_folder",
                               "path": str(real_cifar_slice)}, subset={"train": 100, "test": 50, "seed": 0})
    assert np.bincount(prepared.y_train).tolist() == [10] * 10
    assert np.array_equal(D.load_prepared(tmp_path / "p").x_train, ds.x_train[prepared.source_index])


# ------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_e2e_image_folder_with_test_split(tmp_path):
    """The whole pipeline on an image folder with train/ and test/ cut to a subset: one prepare
    job, test accuracy for every epoch, the subset in the noise sidecar; then the cache's
    invalidation: nothing to do when the source is unchanged, everything again when it changed."""
    import pandas as pd
    import yaml
    from test_paper_scale import job_counts, snakemake

    images = split_folder(tmp_path / "imgs", classes=("ant", "bee", "cow"), train=16, test=6, size=(8, 8))
    config = {"experiment": "folder", "device": "cpu", "threads": 1, "seeds": [1], "methods": ["adamw", "also-min"],
              "signals": ["loss", "weight"], "crossval": {"folds": 2, "detectors": ["cleanlab_pixels"]},
              "scenarios": [{"dataset": "mine", "arch": "resnet18", "noise": ["symmetric", "asymmetric"], "rate": 0.4}],
              "datasets": {"mine": {"format": "image_folder", "path": str(images), "asymmetric_pairs": [[0, 1]],
                                    "subset": {"train": 42, "test": 15, "seed": 0},
                                    "training": {"epochs": 2, "width": 2, "batch_size": 14, "pi_lr": "auto"}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "2", "--configfile", tmp_path / "config.yaml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    res = tmp_path / "results" / "folder"
    assert len(list((res / "benchmarks" / "prepare_data").iterdir())) == 1
    history = pd.read_csv(res / "runs/mine/resnet18/also-min/symmetric-0.4-seed1/history.csv")
    assert len(history) == 2 and history["test_acc"].notna().all()
    sidecar = json.loads((res / "noise/mine/asymmetric-0.4-seed1.json").read_text())
    assert sidecar["subset"] == {"train": 42, "test": 15, "seed": 0} and sidecar["num_samples"] == 42
    assert sidecar["source_sizes"] == {"train": 48, "test": 18}
    ranked = pd.read_csv(res / "runs/mine/resnet18/adamw/symmetric-0.4-seed1/ranked_samples.csv")
    assert len(ranked) == 42 and ranked["file_name"].str.startswith("train/").all()
    provenance = json.loads((res / "runs/mine/resnet18/also-min/symmetric-0.4-seed1/provenance.json").read_text())
    assert provenance["pi_lr_used"] == pytest.approx(PI_LR_STEP_PRODUCT / (42 / 14 * 2))
    assert (res / "figures" / "memorization.png").stat().st_size > 0

    dry = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", tmp_path / "config.yaml")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    img = images / "test" / "cow" / "cow_0.png"
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    dry = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", tmp_path / "config.yaml")
    counts = job_counts(dry.stdout)
    assert counts.get("prepare_data") == 1 and counts.get("train") == 4, dry.stdout[-3000:]


def test_pi_statistics_known_values():
    from benchmarks.pi_lr_study import pi_statistics

    uniform = pi_statistics(np.full(100, 0.01))
    assert uniform["pi_spread"] == pytest.approx(0.0, abs=1e-12) and uniform["pi_ess"] == pytest.approx(1.0)
    half = np.r_[np.full(50, 0.02), np.full(50, 1e-12)]      # all weight on half the samples
    stats = pi_statistics(half / half.sum())
    assert stats["pi_ess"] == pytest.approx(0.5, rel=1e-6) and stats["pi_spread"] > 10
