"""Stage ``suspects`` (rule ``suspects``): one run's gallery of its most suspicious training images
(:mod:`alsofilter.reporting.suspects`)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.io import write_text_atomic
from alsofilter.logs import setup_logging
from alsofilter.reporting.suspects import (check_images, check_top_n, error_count_text, labels_known, plot_suspects,
                                           read_ranked, run_title, save_figure, suspect_tiles, suspects_html,
                                           top_suspects)

log = logging.getLogger(__name__)


def suspects_files(ranked_csv, out_figures: Sequence[str | Path], out_html, dataset: str,
                   dataset_options: Mapping[str, Any] | None, top_n: int, run: Mapping[str, Any],
                   data_dir: str | None = None) -> pd.DataFrame:
    """Write one run's suspects figure (to each of ``out_figures``: .png, .pdf) and page
    ``out_html``. ``run``: its ``dataset, arch, method, noise, rate, seed`` (the rule's
    wildcards). Returns the top-N rows shown."""
    top_n = check_top_n(top_n)
    data = load_pipeline_dataset(dataset, data_dir, dataset_options)
    images = check_images(data.x_train, dataset)
    ranked = read_ranked(ranked_csv)
    top = top_suspects(ranked, top_n, images.shape[0], dataset)
    if len(top) < top_n:
        log.info("top_n %d is more than the %d training samples: showing all of them", top_n, len(top))
    truth_known = labels_known(str(run.get("noise", "")), float(run.get("rate", 0) or 0))
    tiles = suspect_tiles(images, top["_index"].astype(int).tolist())
    title = run_title(run)
    save_figure(plot_suspects(top, tiles, title, truth_known, num_ranked=len(ranked)), out_figures)
    write_text_atomic(out_html, suspects_html(top, tiles, title, truth_known, num_ranked=len(ranked)))
    log.info("%s: the top %d of %d ranked samples; %s", title, len(top), len(ranked),
             error_count_text(top, truth_known))
    return top


def rule_suspects(smk) -> None:
    """Rule ``suspects``."""
    setup_logging(smk.log[0])
    suspects_files(smk.input.ranked, [smk.output.png, smk.output.pdf], smk.output.html,
                   dataset=smk.wildcards.dataset, dataset_options=smk.params.dataset_options,
                   top_n=smk.params.top_n, run=dict(smk.wildcards))
