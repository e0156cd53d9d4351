"""Stage ``mixture`` (rule ``fit_mixture``): a Beta and a Gaussian mixture per epoch for every
signal of one run."""
from __future__ import annotations

import logging
from typing import Iterable

import numpy as np

from alsofilter.detectors.bmm import fit_per_epoch
from alsofilter.detectors.gmm import gmm_per_epoch
from alsofilter.detectors.signals import available_signals, suspicion_score
from alsofilter.io import atomic_path
from alsofilter.logs import setup_logging

log = logging.getLogger(__name__)


def fit_mixture_file(signals_npz, out_npz, signals: Iterable[str], n_iter: int, lower: float,
                     upper: float) -> list[str]:
    """Fit a BMM per epoch to every configured signal this run recorded. Writes, per signal
    ``s``: ``s/posterior`` (E, N) and ``s/alpha``, ``s/beta``, ``s/weight`` (E, 2) in component
    order [clean, noisy], ``s/lo``, ``s/hi``, ``s/ok`` (E,); and the DivideMix-style Gaussian
    mixture's decision (:mod:`alsofilter.detectors.gmm`) as ``s/gmm_posterior`` (E, N), ``s/gmm_ok`` (E,).
    ``n_iter``, ``lower``, ``upper``: the config's ``bmm`` section (its defaults are the schema's).
    Returns the fitted signal names."""
    with np.load(signals_npz) as record:
        record = dict(record)
    names = available_signals(record, list(signals))
    out = {}
    for name in names:
        fit = fit_per_epoch(suspicion_score(name, record), n_iter=n_iter, lower=lower, upper=upper)
        bad = np.flatnonzero(~fit["ok"])
        if bad.size:
            log.warning("signal %s: BMM degenerate at epochs %s (posterior set to 0)", name, (bad + 1).tolist())
        out.update({f"{name}/{key}": value for key, value in fit.items()})
        gmm = gmm_per_epoch(suspicion_score(name, record))
        out.update({f"{name}/gmm_{key}": value for key, value in gmm.items()})
    with atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return names


def rule_fit_mixture(smk) -> None:
    """Rule ``fit_mixture``; ``params.bmm`` is the config's ``bmm`` section (schema defaults filled)."""
    setup_logging(smk.log[0])
    bmm = smk.params.bmm
    fit_mixture_file(smk.input.signals, smk.output.mixture, smk.params.signals, n_iter=bmm["n_iter"],
                     lower=bmm["lower_percentile"], upper=bmm["upper_percentile"])
