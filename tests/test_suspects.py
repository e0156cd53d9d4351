"""The suspects gallery (alsofilter.reporting.suspects): figure grid and self-contained HTML page of a run's
most suspicious training images, on small real prepared datasets and ranked lists."""
from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from alsofilter.config import ConfigError, check_config, suspects_top_n
from alsofilter.data import ImageDataset, channel_stats, write_prepared
from alsofilter.detectors.ranking import RANKED_COLUMNS
from alsofilter.reporting.suspects import (CLEAN_COLOR, FLIPPED_COLOR, check_images, check_top_n, plot_suspects,
                                           read_ranked, suspect_tiles, tile_image, tile_scale)
from alsofilter.stages.suspects import suspects_files

ROOT = Path(__file__).resolve().parents[1]
# names a page must escape: markup characters, ampersands, both kinds of quotes
CLASS_NAMES = ["cat <3", "dog & co", 'say "hi"', "it's"]
RUN = {"dataset": "toy", "arch": "resnet18", "method": "also-min", "noise": "symmetric", "rate": "0.4",
       "seed": "1"}


def make_prepared(folder, n=12, channels=1, size=(8, 8), file_names=True, seed=0) -> ImageDataset:
    """A prepared dataset of ``n`` random uint8 images ``(n, channels, *size)``, 4 classes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, channels, *size), dtype=np.uint8)
    y = (np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
    mean, std = channel_stats(x)
    names = [f'{CLASS_NAMES[c]}/img<{i}>&"q".png' for i, c in enumerate(y)] if file_names else None
    data = ImageDataset(name="toy", x_train=x, y_train=y, x_test=None, y_test=None, num_classes=4,
                        class_names=list(CLASS_NAMES), mean=mean, std=std, file_names=names)
    write_prepared(data, folder)
    return data


def make_ranked(path, data: ImageDataset, seed=1, with_class_names=True) -> pd.DataFrame:
    """A ranked_samples.csv of ``data``: a random order, every third sample's label flipped."""
    rng = np.random.default_rng(seed)
    n = data.num_train
    order = rng.permutation(n)
    true = data.y_train[order]
    is_noisy = (np.arange(n) % 3 == 0).astype(np.int64)
    given = np.where(is_noisy == 1, (true + 1) % 4, true)
    pred = (given + rng.integers(0, 2, size=n)) % 4
    names = (lambda labels: [CLASS_NAMES[c] for c in labels]) if with_class_names else (lambda labels: [""] * n)
    table = pd.DataFrame({
        "rank": np.arange(1, n + 1), "index": order,
        "file_name": [data.file_names[i] for i in order] if data.file_names else [""] * n,
        "given_label": given, "given_class": names(given), "predicted_label": pred,
        "predicted_class": names(pred), "noise_probability": np.round(np.linspace(1, 0, n), 6),
        "signal": "weight", "score": np.linspace(1e-5, 1e-3, n), "true_label": true, "is_noisy": is_noisy,
    })
    assert tuple(table.columns) == RANKED_COLUMNS
    table.to_csv(path, index=False)
    return table


def upscaled(image_chw: np.ndarray, scale: int) -> np.ndarray:
    """What a tile must be: the image as (H, W, C), every pixel a scale x scale block."""
    hwc = image_chw.transpose(1, 2, 0)
    return np.kron(hwc, np.ones((scale, scale, 1), dtype=np.uint8)).astype(np.uint8)


class PageParser(HTMLParser):
    """Collects what the tests look at: images, header cells, rows (cells' text, attributes),
    the options of each <select>, and any reference to another file or the network."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images, self.headers, self.rows, self.options = [], [], [], {}
        self.external = []
        self._cell = None
        self._in_th = False
        self._select = None
        self._option = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs and not str(attrs[key]).startswith("data:"):
                self.external.append((tag, attrs[key]))
        if tag in ("link", "iframe", "object", "embed"):
            self.external.append((tag, attrs))
        if tag == "img":
            self.images.append(attrs)
            if self.rows:
                self.rows[-1]["img"] = attrs
        elif tag == "th":
            self._in_th = True
            self.headers.append("")
        elif tag == "tr" and "data-rank" in attrs:
            self.rows.append({"attrs": attrs, "cells": []})
        elif tag == "td" and self.rows:
            self._cell = ""
        elif tag == "select":
            self._select = attrs["id"]
            self.options[self._select] = []
        elif tag == "option":
            self._option = {"value": attrs.get("value"), "text": ""}

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append(self._cell)
            self._cell = None
        elif tag == "option" and self._option is not None:
            self.options[self._select].append(self._option)
            self._option = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._in_th:
            self.headers[-1] += data
        if self._cell is not None:
            self._cell += data
        if self._option is not None:
            self._option["text"] += data


def parse_page(path) -> PageParser:
    parser = PageParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    parser.close()
    return parser


def decode_data_uri(uri: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):]))))


def run_gallery(tmp_path, top_n, run=RUN, **dataset_kw):
    data = make_prepared(tmp_path / "prepared", **dataset_kw)
    ranked = make_ranked(tmp_path / "ranked_samples.csv", data)
    out = tmp_path / "out"
    top = suspects_files(tmp_path / "ranked_samples.csv", [out / "grid.png", out / "grid.pdf"],
                         out / "suspects.html", dataset="toy",
                         dataset_options={"format": "prepared", "path": str(tmp_path / "prepared")},
                         top_n=top_n, run=run)
    return data, ranked, top, out


# ------------------------------------------------------------------------------ tiles, figure
def test_tile_is_the_image_upscaled_with_nearest_neighbour():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(1, 8, 8), dtype=np.uint8)
    assert tile_scale(8, 8) == 20 and tile_scale(32, 32) == 5 and tile_scale(300, 200) == 1
    tile = tile_image(grey)
    assert tile.shape == (160, 160, 1) and tile.dtype == np.uint8
    np.testing.assert_array_equal(tile, upscaled(grey, 20))
    assert tile[0:20, 0:20, 0].min() == tile[0:20, 0:20, 0].max() == grey[0, 0, 0]   # a pixel = a block
    rgb = rng.integers(0, 256, size=(3, 32, 24), dtype=np.uint8)
    np.testing.assert_array_equal(tile_image(rgb), upscaled(rgb, 5))
    big = rng.integers(0, 256, size=(3, 600, 300), dtype=np.uint8)
    assert tile_image(big).shape == (256, 128, 3)          # shrunk to the longest side 256


def test_grid_holds_the_top_n_in_rank_order_with_their_pixels(tmp_path):
    data, ranked, top, out = run_gallery(tmp_path, top_n=5, n=12)
    assert top["index"].astype(int).tolist() == ranked["index"].head(5).tolist()
    assert top["rank"].astype(int).tolist() == [1, 2, 3, 4, 5]
    tiles = suspect_tiles(data.x_train, ranked["index"].head(5))
    for tile, index in zip(tiles, ranked["index"].head(5)):
        np.testing.assert_array_equal(tile, upscaled(data.x_train[index], 20))
    # the figure shows tile k as its k-th image, titled given -> predicted, rank and p(noisy),
    # framed by the truth, with the file name below it
    fig = plot_suspects(top, tiles, "toy", truth_known=True, num_ranked=len(ranked))
    try:
        (ax,) = fig.axes
        assert len(ax.images) == 5
        texts = {t.get_gid(): t.get_text() for t in ax.texts}
        frames = {p.get_gid(): p for p in ax.patches}
        for k, image in enumerate(ax.images):
            np.testing.assert_array_equal(np.asarray(image.get_array()), tiles[k][:, :, 0])
            row = ranked.iloc[k]
            assert texts[f"title-{k}"] == (f"{row.given_class} → {row.predicted_class}\n"
                                           f"#{k + 1} · p(noisy) {row.noise_probability:.2f}")
            expected = FLIPPED_COLOR if row.is_noisy else CLEAN_COLOR
            assert np.allclose(frames[f"frame-{k}"].get_edgecolor()[:3],
                               [int(expected[i:i + 2], 16) / 255 for i in (1, 3, 5)])
            assert texts[f"file-{k}"] == Path(row.file_name).name
        # tiles run left to right, then top to bottom (3 columns for 5 tiles)
        lefts = [image.get_extent()[0] for image in ax.images]
        tops = [image.get_extent()[3] for image in ax.images]
        assert lefts[0] < lefts[1] < lefts[2] and lefts[3] == lefts[0] and tops[3] > tops[0] == tops[2]
        n_flipped = int(ranked["is_noisy"].head(5).sum())
        assert f"{n_flipped} of the top 5" in fig._suptitle.get_text()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    for ext in ("png", "pdf"):
        assert (out / f"grid.{ext}").stat().st_size > 1000
    with Image.open(out / "grid.png") as png:
        assert png.format == "PNG" and png.width >= 500
    assert not list(out.glob("*.tmp-*"))


@pytest.mark.parametrize("channels,size,scale", [(1, (8, 8), 20), (3, (32, 32), 5)])
def test_greyscale_and_rgb_render(tmp_path, channels, size, scale):
    data, ranked, top, out = run_gallery(tmp_path, top_n=4, n=8, channels=channels, size=size)
    page = parse_page(out / "suspects.html")
    assert len(page.images) == 4
    first = decode_data_uri(page.images[0]["src"])
    expected = upscaled(data.x_train[ranked["index"].iloc[0]], scale)
    np.testing.assert_array_equal(first, expected[:, :, 0] if channels == 1 else expected)
    assert int(page.images[0]["width"]) == size[1] * scale
    with Image.open(out / "grid.png") as png:
        assert png.mode in ("RGB", "RGBA")


# ------------------------------------------------------------------------------ page
def test_page_is_self_contained_and_carries_every_column(tmp_path):
    data, ranked, top, out = run_gallery(tmp_path, top_n=7, n=12)
    raw = (out / "suspects.html").read_text(encoding="utf-8")
    page = parse_page(out / "suspects.html")
    assert not page.external, page.external          # no files, no network
    assert "http://" not in raw and "https://" not in raw
    assert len(page.images) == 7 and all(i["src"].startswith("data:image/png;base64,") for i in page.images)
    # every column of ranked_samples.csv is a (sortable) column of the table
    headers = [h.strip() for h in page.headers]
    assert headers[0] == "image" and headers[1:] == list(ranked.columns)
    assert raw.count("<button type=\"button\" data-col=") == len(ranked.columns)
    # rows in rank order, each carrying the CSV's values, text unescaped by the parser
    assert len(page.rows) == 7
    csv_text = pd.read_csv(tmp_path / "ranked_samples.csv", dtype=str, keep_default_na=False)
    for k, row in enumerate(page.rows):
        assert row["cells"][0] == ""                   # the image cell
        assert row["cells"][1:] == csv_text.iloc[k].tolist()
        assert row["attrs"]["data-given"] == csv_text.iloc[k]["given_class"]
        assert row["attrs"]["data-predicted"] == csv_text.iloc[k]["predicted_class"]
        assert row["attrs"]["class"] == ("flipped" if csv_text.iloc[k]["is_noisy"] == "1" else "clean")
    # class names and file names are shown, and escaped in the markup
    shown = {cell for row in page.rows for cell in row["cells"]}
    for name in set(csv_text["given_class"].head(7)) | set(csv_text["file_name"].head(7)):
        assert name in shown
    for name in csv_text["file_name"].head(7):
        assert name not in raw                          # only its escaped form is in the markup
    assert "cat <3" not in raw and "cat &lt;3" in raw
    # the two filters list the classes present, with an "all" option first
    for select, column in (("given-filter", "given_class"), ("predicted-filter", "predicted_class")):
        options = page.options[select]
        assert options[0]["value"] == ""
        assert {o["value"] for o in options[1:]} == set(csv_text[column].head(7))
    assert "<script>" in raw and "<style>" in raw


def test_page_without_class_or_file_names_uses_label_numbers(tmp_path):
    data = make_prepared(tmp_path / "prepared", n=6, file_names=False)
    make_ranked(tmp_path / "ranked.csv", data, with_class_names=False)
    out = tmp_path / "out"
    suspects_files(tmp_path / "ranked.csv", [out / "g.png"], out / "s.html", dataset="toy",
                   dataset_options={"format": "prepared", "path": str(tmp_path / "prepared")}, top_n=3,
                   run={**RUN, "rate": "0.0"})
    page = parse_page(out / "s.html")
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    assert [r["attrs"]["data-given"] for r in page.rows] == ranked["given_label"].head(3).astype(str).tolist()
    # rate 0: the labels before the noise are unknown, so no frame says flipped or clean
    assert {r["attrs"]["class"] for r in page.rows} == {"unknown"}
    assert "true labels unknown" in (out / "s.html").read_text()


def test_top_n_larger_than_the_dataset_is_clamped(tmp_path):
    data, ranked, top, out = run_gallery(tmp_path, top_n=64, n=10)
    assert len(top) == 10
    assert len(parse_page(out / "suspects.html").images) == 10


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64", None])
def test_bad_top_n_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"suspects\.top_n: .* must be a positive integer"):
        check_top_n(bad)


def test_bad_top_n_in_the_config_is_a_clear_error():
    config = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    assert suspects_top_n(config) == 64
    check_config({**config, "suspects": {"top_n": 5}}, check_files=False)
    assert suspects_top_n({**config, "suspects": {"top_n": 5}}) == 5
    with pytest.raises(ConfigError, match=r"'suspects\.top_n': 0 is not allowed; must be a positive integer"):
        check_config({**config, "suspects": {"top_n": 0}}, check_files=False)
    with pytest.raises(ConfigError, match=r"'suspects\.topn' is unknown \(did you mean 'top_n'\?\)"):
        check_config({**config, "suspects": {"topn": 5}}, check_files=False)


@pytest.mark.parametrize("images", [
    None,
    np.zeros((4, 2, 8, 8), dtype=np.uint8),       # two channels
    np.zeros((4, 8, 8), dtype=np.uint8),          # no channel axis
    np.zeros((4, 1, 8, 8), dtype=np.float32),     # not uint8
    np.zeros((0, 1, 8, 8), dtype=np.uint8),       # no images
])
def test_images_that_cannot_be_shown_are_an_error_naming_the_dataset(images):
    with pytest.raises(ValueError, match=r"dataset 'mydata' has no images the suspects gallery can show"):
        check_images(images, "mydata")


def test_prepared_dataset_with_unusable_images_is_an_error(tmp_path):
    data = make_prepared(tmp_path / "prepared", n=6, channels=2)
    make_ranked(tmp_path / "ranked.csv", data)
    with pytest.raises(ValueError, match=r"dataset 'toy' .* got uint8 array of shape \(6, 2, 8, 8\)"):
        suspects_files(tmp_path / "ranked.csv", [tmp_path / "g.png"], tmp_path / "s.html", dataset="toy",
                       dataset_options={"format": "prepared", "path": str(tmp_path / "prepared")}, top_n=3,
                       run=RUN)
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "s.html").exists()


def test_ranked_list_of_another_dataset_is_an_error(tmp_path):
    data = make_prepared(tmp_path / "prepared", n=6)
    make_ranked(tmp_path / "ranked.csv", make_prepared(tmp_path / "other", n=9))
    with pytest.raises(ValueError, match=r"9 samples but dataset 'toy' has 6 training images"):
        suspects_files(tmp_path / "ranked.csv", [tmp_path / "g.png"], tmp_path / "s.html", dataset="toy",
                       dataset_options={"format": "prepared", "path": str(tmp_path / "prepared")}, top_n=3,
                       run=RUN)
    assert data.num_train == 6


def test_ranked_list_without_a_column_is_an_error(tmp_path):
    data = make_prepared(tmp_path / "prepared", n=6)
    table = make_ranked(tmp_path / "ranked.csv", data)
    table.drop(columns=["noise_probability"]).to_csv(tmp_path / "ranked.csv", index=False)
    with pytest.raises(ValueError, match=r"ranked\.csv: columns \['noise_probability'\] are missing"):
        read_ranked(tmp_path / "ranked.csv")


def test_ranked_index_outside_the_dataset_is_an_error(tmp_path):
    data = make_prepared(tmp_path / "prepared", n=6)
    table = make_ranked(tmp_path / "ranked.csv", data)
    table.loc[2, "index"] = 6
    table.to_csv(tmp_path / "ranked.csv", index=False)
    with pytest.raises(ValueError, match=r"training index 6, but dataset 'toy' has indices 0\.\.5"):
        suspects_files(tmp_path / "ranked.csv", [tmp_path / "g.png"], tmp_path / "s.html", dataset="toy",
                       dataset_options={"format": "prepared", "path": str(tmp_path / "prepared")}, top_n=3,
                       run=RUN)
