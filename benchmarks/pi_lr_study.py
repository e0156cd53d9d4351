"""Evidence for ``pi_lr: auto``: does η·steps, not η, decide what ALSO-min's π does?

The π update moves log π_i by −η·(N/|B|)·CE_i once per epoch (SPEC §2), so after E epochs the
weights have moved by η·steps times the samples' summed losses, steps = (N/|B|)·E. If that is
the quantity that matters, runs on different training-set sizes N and epoch counts E with the
same η·steps should end with π equally far from uniform, and runs with the same η should not.

For each (N, E) this trains ALSO-min on a stratified subset of digits with symmetric noise, once
with a fixed η (the demo's tuned 3e-3) and once with ``auto`` (η·steps = the authors' 0.78), and
reports at the last epoch, *without looking at which labels are noisy*:

* ``pi_spread``: the standard deviation of log(N·π) over the samples (0 = uniform);
* ``pi_ess``: the effective sample size of π as a fraction of N, 1 / (N·Σπ²) (1 = uniform);

and, as the evaluation (so that nobody mistakes it for tuning on it): ``auc`` of −π against the
true noise mask, and the test accuracy. Run: ``python scripts/pi_lr_study.py`` (about 5 minutes
on one core).
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np
import pandas as pd

from alsofilter.config.settings import PI_LR_STEP_PRODUCT, TrainConfig, resolve_pi_lr

SIZES = (400, 1437)
EPOCHS = (10, 30)
FIXED_PI_LR = 3e-3


def pi_statistics(pi: np.ndarray) -> dict[str, float]:
    """``pi_spread`` = std of log(N·π) and ``pi_ess`` = 1 / (N·Σπ²) of weights π (N,) summing to 1."""
    pi = np.asarray(pi, dtype=np.float64)
    n = pi.size
    return {"pi_spread": float(np.std(np.log(n * pi + 1e-300))), "pi_ess": float(1.0 / (n * np.sum(pi ** 2)))}


def study(sizes: Sequence[int] = SIZES, epochs: Sequence[int] = EPOCHS, rate: float = 0.4,
          seed: int = 1, width: int = 8, threads: int = 1) -> pd.DataFrame:
    """One row per (N, E, rule): η, η·steps, the π statistics, AUC and test accuracy."""
    import torch
    from sklearn.metrics import roc_auc_score

    from alsofilter.data import load_digits_dataset, subset_dataset
    from alsofilter.data.noise import make_noisy_labels
    from alsofilter.training.trainer import Trainer

    torch.set_num_threads(threads)
    full = load_digits_dataset()
    rows = []
    for n in sizes:
        data = full if n >= full.num_train else subset_dataset(full, train=n, seed=seed)
        table = make_noisy_labels(data.y_train, 10, "symmetric", rate, seed, "digits")
        noisy, is_noisy = table["noisy_label"].to_numpy(), table["is_noisy"].to_numpy()
        for e in epochs:
            for rule, pi_lr in (("fixed", FIXED_PI_LR), ("auto", "auto")):
                config = TrainConfig(method="also-min", width=width, epochs=e, batch_size=64, crop_padding=0,
                                     flip=False, pi_lr=pi_lr, device="cpu", seed=seed)
                start = time.perf_counter()
                trainer = Trainer(data, noisy, data.y_train, config, name=f"N={n} E={e} {rule}")
                record = trainer.fit(progress=False)
                pi = record.arrays["weight"][-1]
                steps = data.num_train / config.batch_size * e
                rows.append({"N": data.num_train, "epochs": e, "rule": rule, "pi_lr": trainer.pi_lr,
                             "pi_lr_x_steps": trainer.pi_lr * steps, **pi_statistics(pi),
                             "auc": float(roc_auc_score(is_noisy, -pi)),
                             "test_acc": record.history[-1]["test_acc"],
                             "seconds": time.perf_counter() - start})
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--epochs", type=int, nargs="+", default=list(EPOCHS))
    parser.add_argument("--rate", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    table = study(args.sizes, args.epochs, args.rate, args.seed, threads=args.threads)
    print(f"\npi_lr: auto keeps pi_lr x steps = {PI_LR_STEP_PRODUCT:.5f} (the authors' 1e-5 x 78 125 steps)")
    print(table.to_markdown(index=False, floatfmt=".4g"))
    return table


if __name__ == "__main__":  # pragma: no cover
    main()
