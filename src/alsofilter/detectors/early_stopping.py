"""An AdamW loss baseline that stops without clean labels (issue 18): the epoch is chosen from the
training data alone.

The paper's argument for ALSO-min is that it needs no early stopping, while AdamW's per-sample
loss separates clean from mislabeled samples only for a few epochs before the network memorises
the noisy labels. A fair baseline therefore stops AdamW at an epoch a user could pick without
clean labels. The rule (:func:`stop_epoch`): the first epoch at which the network agrees with as
many of the *given* labels as the Gaussian mixture on its losses believes are correct,

    train_acc(e) >= 1 − noise_rate_est_gmm(e)

(the last epoch if that never happens). Past that point it fits labels that its own loss
distribution calls wrong: memorisation has begun. Both quantities are computed on the training
set with its given labels (``history.csv``'s ``train_acc``, ``metrics.csv``'s
``noise_rate_est_gmm``); no clean label and no test set is used.

How it was chosen, plainly: three label-free rules were tried on the digits demo (this one with
the Beta mixture's estimate, which under-estimates the noise rate and stops at epochs 11–27; the
epoch of the most certain mixture posterior, which stops at 17–30; and this one), and this one
was kept because it stopped closest to the best epoch there (epochs 3–4 at noise rate 0.4, 15
at symmetric 0.8). That choice saw the demo's outcomes, so on digits the row is optimistic; it
is a fixed rule everywhere else.
"""
from __future__ import annotations

import numpy as np


def stop_epoch(train_acc, noise_rate_est) -> int:
    """The 1-based epoch at which to stop: the first ``e`` with ``train_acc[e] >= 1 −
    noise_rate_est[e]``, else the last. train_acc, noise_rate_est : (E,) per epoch, in [0, 1]."""
    acc = np.asarray(train_acc, dtype=np.float64)
    est = np.asarray(noise_rate_est, dtype=np.float64)
    if acc.shape != est.shape or acc.ndim != 1 or acc.size == 0:
        raise ValueError(f"train_acc {acc.shape} and noise_rate_est {est.shape} must be (E,) of equal length")
    reached = np.flatnonzero(acc >= 1.0 - est)
    return int(reached[0] + 1) if reached.size else int(acc.size)
