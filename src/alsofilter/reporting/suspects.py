"""Galleries of the training images a run flags: its top-N most suspicious samples, as seen.

For one run, :func:`suspects_files` reads ``ranked_samples.csv`` (most suspicious first, see
:func:`alsofilter.detectors.ranking.ranked_samples`) and the training images of the prepared dataset, and
writes

* a figure (PNG and PDF): a grid of the top-N images in rank order, each tile titled
  ``#rank given → predicted`` (class names where the dataset has them) and its BMM noise
  probability, with the image's file name below it where the dataset has file names;
* ``suspects.html``: one self-contained page (images embedded as base64 PNG data URIs, inline
  CSS and JavaScript, no external files, no network) with the same images larger and every
  column of ``ranked_samples.csv``, sortable by clicking a column header and filterable by
  given and predicted class.

Where the labels before the noise are known (synthetic noise with a rate above 0, or human
noise such as CIFAR-10N, whose clean labels are known), each tile gets a frame: vermillion when
the given label was truly flipped, blue when it is the true label. The figure's title and the
page say how many of the top N are true label errors. With one's own data at rate 0 the true
labels are unknown (``true_label`` equals the given label) and there are no frames.

Images are upscaled by an integer factor with nearest-neighbour sampling, so the pixels of an
8x8 digit stay visible as squares (also in the PDF, whose viewers smooth small images), and
images larger than :data:`MAX_TILE_SIDE` pixels are shrunk for the page. Only numpy, pandas,
Pillow and matplotlib (Agg) are imported: one job takes a few seconds (64 digits: ~2 s).
"""
from __future__ import annotations

import base64
import html
import io
import logging
import math
import numbers
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from alsofilter.data.noise import is_human_noise
from alsofilter.detectors.ranking import RANKED_COLUMNS
from alsofilter.names import method_label, signal_label
from alsofilter.reporting import figures

log = logging.getLogger(__name__)

#: frame of a tile whose given label was truly flipped by the noise / is the true label
#: (Okabe-Ito vermillion and blue: distinguishable with the common colour-vision deficiencies)
FLIPPED_COLOR = "#D55E00"
CLEAN_COLOR = "#0072B2"
#: tiles are upscaled (nearest neighbour, integer factor) until their longer side is at least
#: this many pixels, and images whose longer side exceeds MAX_TILE_SIDE are shrunk to it
MIN_TILE_SIDE = 160
MAX_TILE_SIDE = 256
#: resolution of the PNG figure (dots per inch; a tile is TILE_INCHES wide)
FIGURE_DPI = 100
TILE_INCHES = 1.45
#: columns of ranked_samples.csv read as numbers (kept as text too: the page shows the file's text)
NUMERIC_COLUMNS = ("rank", "index", "given_label", "predicted_label", "noise_probability", "score",
                   "true_label", "is_noisy")


# ------------------------------------------------------------------------------ checks, inputs
def check_top_n(top_n: Any) -> int:
    """``top_n`` as an int; a clear error unless it is a positive integer (bools are not)."""
    if isinstance(top_n, bool) or not isinstance(top_n, numbers.Integral) or top_n < 1:
        raise ValueError(f"suspects.top_n: {top_n!r} is not allowed; it must be a positive integer "
                         "(how many of a run's most suspicious training images its gallery shows)")
    return int(top_n)


def check_images(images: Any, dataset: str) -> np.ndarray:
    """``images`` if they are training images uint8 ``(N, C, H, W)`` with C 1 (grey) or 3 (RGB)
    and N, H, W >= 1; else a ValueError naming ``dataset``."""
    shape = getattr(images, "shape", None)
    dtype = getattr(images, "dtype", None)
    if images is None or shape is None or len(shape) != 4 or dtype != np.uint8 or shape[1] not in (1, 3) \
            or min(shape) < 1:
        got = "no images" if images is None else f"{dtype} array of shape {shape}"
        raise ValueError(f"dataset {dataset!r} has no images the suspects gallery can show: it needs "
                         f"training images as uint8 (N, C, H, W) with C = 1 (grey) or 3 (RGB), "
                         f"got {got}")
    return images


def read_ranked(path) -> pd.DataFrame:
    """``ranked_samples.csv`` with its text exactly as written (class names such as "NA" stay
    text) plus the numeric columns :data:`NUMERIC_COLUMNS` parsed; sorted by rank. A clear
    error naming the file when a column is missing or a number is not one."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in RANKED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing (has {list(table.columns)}); "
                         "it is not a ranked_samples.csv of this pipeline")
    for column in NUMERIC_COLUMNS:
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        if column != "noise_probability" and values.isna().any():
            bad = table.loc[values.isna(), column].iloc[0]
            raise ValueError(f"{path}: column {column!r} holds {bad!r}, which is not a number")
        table[f"_{column}"] = values
    return table.sort_values("_rank", kind="stable").reset_index(drop=True)


def top_suspects(ranked: pd.DataFrame, top_n: int, num_images: int, dataset: str = "") -> pd.DataFrame:
    """The first ``top_n`` rows of a :func:`read_ranked` table (all of them when it has fewer),
    after checking that it ranks the ``num_images`` training images of ``dataset``."""
    top_n = check_top_n(top_n)
    if len(ranked) != num_images:
        raise ValueError(f"the ranked list has {len(ranked)} samples but dataset {dataset!r} has "
                         f"{num_images} training images; the run and the prepared dataset do not match "
                         "(rerun the pipeline from prepare_data)")
    index = ranked["_index"].to_numpy()
    outside = index[(index < 0) | (index >= num_images) | (index != np.round(index))]
    if len(outside):
        raise ValueError(f"the ranked list names training index {outside[0].item()!r}, but dataset {dataset!r} "
                         f"has indices 0..{num_images - 1}")
    return ranked.head(top_n).reset_index(drop=True)


def labels_known(noise: str, rate: float) -> bool:
    """True when ``true_label`` is the label before the noise: synthetic noise with a rate above
    0, or human noise (its clean labels are known). At rate 0 it is just the given label."""
    return is_human_noise(noise) or float(rate) > 0


# ------------------------------------------------------------------------------ tiles
def tile_scale(height: int, width: int, min_side: int = MIN_TILE_SIDE) -> int:
    """The integer nearest-neighbour factor that makes the longer side at least ``min_side``
    pixels (1 for images that are already that large)."""
    return max(1, math.ceil(min_side / max(height, width)))


def tile_image(image: np.ndarray, min_side: int = MIN_TILE_SIDE, max_side: int = MAX_TILE_SIDE) -> np.ndarray:
    """One training image uint8 ``(C, H, W)`` as a tile uint8 ``(H*s, W*s, C)``: upscaled by
    :func:`tile_scale` with nearest neighbour (every pixel a s x s block), or, when its longer
    side exceeds ``max_side``, shrunk to that (box filter)."""
    tile = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(1, 2, 0))
    height, width = tile.shape[:2]
    if max(height, width) > max_side:
        from PIL import Image

        factor = max_side / max(height, width)
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        shrunk = Image.fromarray(tile[:, :, 0] if tile.shape[2] == 1 else tile).resize(size, Image.Resampling.BOX)
        return np.asarray(shrunk, dtype=np.uint8).reshape(size[1], size[0], tile.shape[2])
    scale = tile_scale(height, width, min_side)
    return np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)


def suspect_tiles(images: np.ndarray, indices: Sequence[int], min_side: int = MIN_TILE_SIDE,
                  max_side: int = MAX_TILE_SIDE) -> list[np.ndarray]:
    """:func:`tile_image` of ``images[i]`` (uint8 ``(N, C, H, W)``) for each training index in
    ``indices``, in that order; reads only those images of a memory map."""
    return [tile_image(images[int(i)], min_side, max_side) for i in indices]


def png_bytes(tile: np.ndarray) -> bytes:
    """A tile uint8 ``(H, W, C)``, C 1 or 3, as PNG bytes (grey or RGB)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(tile[:, :, 0] if tile.shape[2] == 1 else tile).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def png_data_uri(tile: np.ndarray) -> str:
    """A tile as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(tile)).decode("ascii")


# ------------------------------------------------------------------------------ labels, titles
def class_label(name: str, label: Any) -> str:
    """The class name when there is one, else the label number."""
    name = "" if name is None else str(name)
    return name if name else str(label)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def frame_kind(row: Mapping[str, Any], truth_known: bool) -> str | None:
    """``"flipped"`` (the given label is not the true one), ``"clean"``, or None when the labels
    before the noise are unknown."""
    if not truth_known:
        return None
    flipped = int(row["_is_noisy"]) == 1 or int(row["_true_label"]) != int(row["_given_label"])
    return "flipped" if flipped else "clean"


def run_title(run: Mapping[str, Any]) -> str:
    """``digits · resnet18 · ALSO-min · symmetric 0.4 · seed 1`` (human noise: ``human:worst``)."""
    parts = [str(run[k]) for k in ("dataset", "arch") if run.get(k) is not None]
    if run.get("method") is not None:
        parts.append(method_label(str(run["method"])))
    noise = run.get("noise")
    if noise is not None:
        parts.append(str(noise).replace("-", ":", 1) if is_human_noise(str(noise))
                     else f"{noise} {float(run.get('rate', 0)):g}")
    if run.get("seed") is not None:
        parts.append(f"seed {run['seed']}")
    return " · ".join(parts)


def error_count_text(top: pd.DataFrame, truth_known: bool) -> str:
    """``"23 of the top 64 are true label errors"`` (or why frames are missing)."""
    if not truth_known:
        return "true labels unknown (no injected noise): no frames"
    flipped = sum(frame_kind(row, True) == "flipped" for _, row in top.iterrows())
    verb = "is a true label error" if flipped == 1 else "are true label errors"
    return f"{flipped} of the top {len(top)} {verb}"


# ------------------------------------------------------------------------------ figure
def tile_title(row: Mapping[str, Any]) -> str:
    """``"cat → dog"`` (names cut to 9 characters) over ``"#3 · p(noisy) 0.97"``."""
    given = _short(class_label(row["given_class"], row["given_label"]), 9)
    predicted = _short(class_label(row["predicted_class"], row["predicted_label"]), 9)
    prob = row["_noise_probability"]
    prob_text = "p(noisy) n/a" if pd.isna(prob) else f"p(noisy) {prob:.2f}"
    return f"{given} → {predicted}\n#{row['rank']} · {prob_text}"


def plot_suspects(top: pd.DataFrame, tiles: Sequence[np.ndarray], title: str, truth_known: bool,
                  num_ranked: int | None = None) -> plt.Figure:
    """A grid of ``tiles`` (uint8 ``(h, w, C)``, one per row of ``top``, in rank order, row by
    row), each under its :func:`tile_title`, with the file name below it when there is one and
    a frame (:func:`frame_kind`) when ``truth_known``.

    Drawn in one axes whose data units are inches from the top left (one axes per tile would
    cost seconds): ``fig.axes[0].images[k]`` shows tile ``k``; its title, frame and file name
    are the artists with gid ``title-k``, ``frame-k`` and ``file-k``."""
    n = len(top)
    if n != len(tiles):
        raise ValueError(f"{n} ranked rows but {len(tiles)} tiles")
    if n == 0:
        raise ValueError("no suspects to show (the ranked list is empty)")
    ncols = max(1, min(n, math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncols)
    has_files = bool(top["file_name"].astype(str).str.len().gt(0).any())
    # layout in inches: header (suptitle, legend), then rows of [tile title, tile, file name]
    gap, title_space, file_space = 0.15, 0.36, (0.17 if has_files else 0.0)
    header, margin = (0.9 if truth_known else 0.6), 0.15
    content_w = ncols * TILE_INCHES + (ncols - 1) * gap
    width = max(content_w + 2 * margin, 5.0)
    height = header + nrows * (title_space + TILE_INCHES + file_space) + margin
    side = (width - content_w) / 2
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_autoscale_on(False)
    ax.set_axis_off()
    for k, ((_, row), tile) in enumerate(zip(top.iterrows(), tiles)):
        r, c = divmod(k, ncols)
        box_x = side + c * (TILE_INCHES + gap)
        box_y = header + r * (title_space + TILE_INCHES + file_space) + title_space
        h, w = tile.shape[:2]
        tile_w, tile_h = w * TILE_INCHES / max(h, w), h * TILE_INCHES / max(h, w)
        left, upper = box_x + (TILE_INCHES - tile_w) / 2, box_y + (TILE_INCHES - tile_h) / 2
        extent = (left, left + tile_w, upper + tile_h, upper)
        if tile.shape[2] == 1:
            ax.imshow(tile[:, :, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest",
                      extent=extent, aspect="auto")
        else:
            ax.imshow(tile, interpolation="nearest", extent=extent, aspect="auto")
        center = box_x + TILE_INCHES / 2
        ax.text(center, upper - 0.04, tile_title(row), ha="center", va="bottom", fontsize=8,
                linespacing=1.2, gid=f"title-{k}", parse_math=False)
        if has_files and row["file_name"]:
            ax.text(center, upper + tile_h + 0.03, _short(Path(str(row["file_name"])).name, 26), ha="center",
                    va="top", fontsize=5.5, color="0.3", gid=f"file-{k}", parse_math=False)
        kind = frame_kind(row, truth_known)
        color, lw = {"flipped": (FLIPPED_COLOR, 3.0), "clean": (CLEAN_COLOR, 2.2)}.get(kind, ("0.75", 0.6))
        ax.add_patch(Rectangle((left, upper), tile_w, tile_h, fill=False, edgecolor=color, lw=lw,
                               zorder=3, gid=f"frame-{k}"))
    of = f" of {num_ranked}" if num_ranked is not None else ""
    fig.suptitle(f"{title}\nthe {n} most suspicious{of} training images, most suspicious first; "
                 f"{error_count_text(top, truth_known)}",
                 fontsize=10, y=1 - 0.08 / height, va="top", linespacing=1.4)
    if truth_known:
        handles = [Patch(facecolor="none", edgecolor=FLIPPED_COLOR, lw=2.5, label="label flipped by the noise"),
                   Patch(facecolor="none", edgecolor=CLEAN_COLOR, lw=1.6, label="label correct")]
        fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False, fontsize=8,
                   bbox_to_anchor=(0.5, 1 - 0.5 / height), handlelength=1.4)
    return fig


def save_figure(fig: plt.Figure, out_paths: Sequence[str | Path], dpi: int = FIGURE_DPI) -> list[Path]:
    """Save the gallery ``fig`` to every path (:func:`alsofilter.reporting.figures.save_figure`).
    Images are not merged into one (``image.composite_image``), so a PDF keeps each tile's pixels."""
    return figures.save_figure(fig, out_paths, dpi=dpi, bbox_inches=None, rc={"image.composite_image": False})


# ------------------------------------------------------------------------------ HTML page
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.2em 1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
p{margin:.3em 0}
.controls{margin:.8em 0;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
.controls select{font:inherit;padding:2px 4px}
.swatch{display:inline-block;width:1em;height:1em;vertical-align:-.15em;margin:0 .3em 0 .8em;box-sizing:border-box}
.swatch.flipped{border:4px solid FLIPPED}
.swatch.clean{border:3px solid CLEAN}
table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:middle}
thead th{position:sticky;top:0;background:#f3f3f3;z-index:1;vertical-align:bottom}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:#124;text-align:inherit}
th button:hover{text-decoration:underline}
th button::after{content:" \\2195";color:#999}
th[aria-sort=ascending] button::after{content:" \\25B2";color:inherit}
th[aria-sort=descending] button::after{content:" \\25BC";color:inherit}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.file{max-width:22em;overflow-wrap:anywhere}
tr.flipped td.num.rank{color:FLIPPED;font-weight:700}
img{display:block;image-rendering:pixelated;image-rendering:crisp-edges;border:4px solid #ccc;box-sizing:content-box}
img.flipped{border:6px solid FLIPPED}
img.clean{border:4px solid CLEAN}
img.unknown{border:1px solid #ccc}
""".replace("FLIPPED", FLIPPED_COLOR).replace("CLEAN", CLEAN_COLOR)

_JS = """
(function () {
  var table = document.getElementById("suspects");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = table.tHead.rows[0].cells;
  var state = {col: -1, asc: true};
  for (var i = 0; i < heads.length; i++) {   // the page opens sorted by rank
    var initial = heads[i].getAttribute("aria-sort");
    if (initial) { state = {col: i, asc: initial === "ascending"}; }
  }
  function key(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent; }
    if (numeric) { var x = parseFloat(v); return isNaN(x) ? -Infinity : x; }
    return v.toLowerCase();
  }
  table.tHead.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-col]");
    if (!button) { return; }
    var col = +button.getAttribute("data-col");
    var numeric = button.getAttribute("data-type") === "num";
    var asc = state.col === col ? !state.asc : true;
    state = {col: col, asc: asc};
    var sorted = rows.slice().sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return (asc ? order : -order) || (+a.getAttribute("data-rank") - +b.getAttribute("data-rank"));
    });
    sorted.forEach(function (row) { tbody.appendChild(row); });
    for (var j = 0; j < heads.length; j++) { heads[j].removeAttribute("aria-sort"); }
    button.parentNode.setAttribute("aria-sort", asc ? "ascending" : "descending");
  });
  var given = document.getElementById("given-filter");
  var predicted = document.getElementById("predicted-filter");
  var shown = document.getElementById("shown");
  function filter() {
    var count = 0;
    rows.forEach(function (row) {
      var show = (!given.value || row.getAttribute("data-given") === given.value) &&
                 (!predicted.value || row.getAttribute("data-predicted") === predicted.value);
      row.hidden = !show;
      if (show) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " shown";
  }
  given.addEventListener("change", filter);
  predicted.addEventListener("change", filter);
  filter();
})();
"""


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _class_options(top: pd.DataFrame, name_col: str, label_col: str) -> str:
    """``<option>`` per class present in ``top`` (by label number), with its count."""
    keys = pd.DataFrame({"label": top[f"_{label_col}"].astype(int),
                         "text": [class_label(n, lab) for n, lab in zip(top[name_col], top[label_col])]})
    counts = keys.groupby(["label", "text"]).size().reset_index(name="n").sort_values(["label", "text"])
    options = ['<option value="">all</option>']
    options += [f'<option value="{_escape(r.text)}">{_escape(r.text)} ({r.n})</option>'
                for r in counts.itertuples(index=False)]
    return "".join(options)


def suspects_html(top: pd.DataFrame, tiles: Sequence[np.ndarray], title: str, truth_known: bool,
                  num_ranked: int | None = None, columns: Sequence[str] | None = None) -> str:
    """The self-contained page: a table with one row per row of ``top`` (rank order), its tile
    as an embedded PNG and ``columns`` (default: every column of ranked_samples.csv, i.e. those
    of ``top`` not starting with ``_``). Every text is escaped with :func:`html.escape`."""
    if len(top) != len(tiles):
        raise ValueError(f"{len(top)} ranked rows but {len(tiles)} tiles")
    columns = [c for c in top.columns if not str(c).startswith("_")] if columns is None else list(columns)
    numeric = {c for c in columns if c in NUMERIC_COLUMNS}
    head = ['<th scope="col">image</th>']
    for k, column in enumerate(columns, start=1):
        kind = "num" if column in numeric else "text"
        sort = ' aria-sort="ascending"' if column == "rank" else ""
        head.append(f'<th scope="col"{sort}><button type="button" data-col="{k}" data-type="{kind}" '
                    f'title="sort by {_escape(column)}">{_escape(column).replace("_", "_<wbr>")}</button></th>')
    body = []
    for (_, row), tile in zip(top.iterrows(), tiles):
        kind = frame_kind(row, truth_known)
        given = class_label(row["given_class"], row["given_label"])
        predicted = class_label(row["predicted_class"], row["predicted_label"])
        alt = f"training image {row['index']}: given {given}, predicted {predicted}"
        if row["file_name"]:
            alt += f", file {row['file_name']}"
        cells = [f'<td><img src="{png_data_uri(tile)}" width="{tile.shape[1]}" height="{tile.shape[0]}" '
                 f'class="{kind or "unknown"}" alt="{_escape(alt)}" title="{_escape(alt)}"></td>']
        for column in columns:
            text = row[column]
            classes = []
            if column in numeric:
                classes.append("num")
            if column == "rank":
                classes.append("rank")
            if column == "file_name":
                classes.append("file")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            shown = _escape(text).replace("/", "/<wbr>") if column == "file_name" else _escape(text)
            cells.append(f'<td{cls} data-value="{_escape(text)}">{shown}</td>')
        body.append(f'<tr class="{kind or "unknown"}" data-rank="{_escape(row["rank"])}" '
                    f'data-given="{_escape(given)}" data-predicted="{_escape(predicted)}">' + "".join(cells) + "</tr>")
    of = f" of {num_ranked}" if num_ranked is not None else ""
    signal = str(top["signal"].iloc[0]) if len(top) else ""
    by = signal_label(signal)
    legend = ""
    if truth_known:
        legend = ('<p>Frames:<span class="swatch flipped"></span>label flipped by the noise '
                  '(a true label error)<span class="swatch clean"></span>label correct</p>')
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Suspects: {_escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>Suspects: {_escape(title)}</h1>",
        f"<p>The {len(top)} most suspicious{of} training images by the run's {_escape(by)} at the last "
        f"epoch, most suspicious first; {_escape(error_count_text(top, truth_known))}. "
        "<code>noise_probability</code> is the Beta mixture's probability that the given label is "
        "wrong. Click a column header to sort.</p>",
        legend,
        '<div class="controls">'
        f'<label>Given class <select id="given-filter">'
        f'{_class_options(top, "given_class", "given_label")}</select></label>'
        f'<label>Predicted class <select id="predicted-filter">'
        f'{_class_options(top, "predicted_class", "predicted_label")}</select></label>'
        f'<span id="shown">{len(top)} of {len(top)} shown</span></div>',
        '<table id="suspects">',
        "<thead><tr>" + "".join(head) + "</tr></thead>",
        "<tbody>",
        *body,
        "</tbody>",
        "</table>",
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
        "",
    ])


