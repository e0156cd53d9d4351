"""One whole training of the demo's recipe, for timing a code change as a whole process.

Digits (the demo's split), 40 % symmetric noise drawn with a fixed seed, ResNet-18 at width 8,
30 epochs, batch 64, no augmentation, one torch thread: what one ``train`` job of the demo
computes, without Snakemake. Prints the seconds of ``Trainer.fit`` and the last epoch's training
loss (equal losses = the same training). Meant to be timed from outside, A against B:

    farm-bench -n 4 --pin 0 --timeout 900 \\
        --vs "env PYTHONPATH=<old checkout>/src python benchmarks/digits_run.py adamw" \\
        -- env PYTHONPATH=src python benchmarks/digits_run.py adamw
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np
import torch

from alsofilter.config.settings import TrainConfig
from alsofilter.data.digits import load_digits_dataset
from alsofilter.training.trainer import Trainer


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=("adamw", "also-min", "also-max"))
    parser.add_argument("--also-mode", default="extragrad", choices=("extragrad", "descent-ascent", "optimistic"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset = load_digits_dataset()
    labels = dataset.y_train.copy()
    rng = np.random.default_rng(0)
    flip = rng.random(len(labels)) < 0.4
    labels[flip] = rng.integers(0, 10, int(flip.sum()))
    config = TrainConfig.from_dict(dict(method=args.method, also_mode=args.also_mode, arch="resnet18",
                                        width=args.width, epochs=args.epochs, batch_size=64, crop_padding=0,
                                        flip=False, seed=1, device="cpu", pi_lr=3e-3))
    start = time.perf_counter()
    record = Trainer(dataset, labels, dataset.y_train, config).fit(progress=False)
    result = {"method": args.method, "fit_s": time.perf_counter() - start,
              "final_train_loss": record.history[-1]["train_loss"]}
    print(f"{args.method}: fit {result['fit_s']:.2f} s, final training loss {result['final_train_loss']:.6f}")
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
