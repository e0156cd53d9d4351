"""Why does ALSO-min's extragradient train a BN ResNet badly? A screen of the ALSO update's parts.

Trains each variant of :data:`VARIANTS` (a name and its :class:`TrainConfig` overrides) on the
real CIFAR-10 subset of ``config/cifar10_cpu.yaml`` (5 000 / 2 000 stratified images, seed 0;
ResNet-18 width 16, batch 64, flips, no crop, 16 epochs, the authors' lr / weight decay /
pi_decay, ``pi_lr: auto``; one torch thread), with the pipeline's noise files (the run seed is the
noise seed), and writes one CSV per (scenario, variant, seed) with a row per epoch:

* ``train_loss``, ``train_acc``: from the training pass (train mode, at θ before the step), against
  the given labels; ``test_acc``: clean test accuracy (eval mode);
* ``auc_weight``: ROC-AUC of −π for clean vs mislabeled (ALSO), ``auc_loss``: of the per-sample
  training loss (every variant);
* the lookahead's diagnostics, for the extragradient (means over the epoch's steps):
  ``lookahead_loss`` (batch loss at θ½ divided by that at θ: below 1 = the half step helped on
  its own batch), ``grad_cosine`` (cosine of the gradients at θ and at θ½, whole network) and
  ``grad_sign_flips`` (fraction of the network's coordinates whose gradient changes sign between
  θ and θ½, i.e. where the half step overshot the batch's minimum along that coordinate and the
  main step, applied at θ, moves uphill).

Run (about 7 min for a one-pass variant and 12 min for an extragradient one, per scenario and
seed, one core of an AMD EPYC)::

    python -m benchmarks.also_ablation --data data/cifar10-jpg --out results/ablation \\
        --scenarios symmetric:0.4 asymmetric:0.4 --variants extragrad descent-ascent --seeds 42

then ``python -m benchmarks.also_ablation --out results/ablation --summary`` prints the tables.
Finished runs are skipped, so a killed screen resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from alsofilter.config.settings import TrainConfig
from alsofilter.data import load_dataset, subset_dataset
from alsofilter.data.noise import make_noisy_labels
from alsofilter.io import atomic_path
from alsofilter.training.also import ALSO
from alsofilter.training.trainer import Trainer

#: the training settings of config/cifar10_cpu.yaml's CIFAR-10 runs
BASE = dict(arch="resnet18", width=16, epochs=16, batch_size=64, crop_padding=0, flip=True, pi_lr="auto",
            lr=1e-3, weight_decay=1e-4, pi_decay=0.1, loss_source="train", device="cpu")

#: variant name -> overrides of :data:`BASE`; each changes one part of the default (extragrad) update
VARIANTS: dict[str, dict] = {
    "adamw": {"method": "adamw"},
    "extragrad": {"method": "also-min"},
    "descent-ascent": {"method": "also-min", "also_mode": "descent-ascent"},
    "optimistic": {"method": "also-min", "also_mode": "optimistic"},
    "extragrad-pi-frozen": {"method": "also-min", "pi_lr": 0.0},
    "extragrad-shared-adam": {"method": "also-min", "also_adam_state": "shared"},
    "extragrad-decoupled-wd": {"method": "also-min", "also_weight_decay": "decoupled"},
    "extragrad-lookahead-0.1": {"method": "also-min", "also_lookahead": 0.1},
    "authors": {"method": "also-min", "adam_eps": 1e-20, "also_l2_at": "half"},
    "descent-ascent-pi-frozen": {"method": "also-min", "also_mode": "descent-ascent", "pi_lr": 0.0},
}
SUBSET = {"train": 5000, "test": 2000, "seed": 0}


class TracedALSO(ALSO):
    """ALSO that records, for each two-pass step, the batch losses and gradients at θ and θ½."""

    def _pass(self, closure, pi_batch, scale):
        out, scaled = super()._pass(closure, pi_batch, scale)
        grad = torch.cat([p.grad.detach().reshape(-1) for p in self.params])
        trace = self.__dict__.setdefault("trace", [])
        pending = self.__dict__.get("_first")
        if self.also_mode == "descent-ascent" or pending is None:
            self.__dict__["_first"] = (float(scaled.mean()), grad.clone())
        else:
            loss0, grad0 = pending
            trace.append({"lookahead_loss": float(scaled.mean()) / loss0,
                          "grad_cosine": float(torch.nn.functional.cosine_similarity(grad0, grad, dim=0)),
                          "grad_sign_flips": float(((grad0 * grad) < 0).float().mean())})
            self.__dict__["_first"] = None
        return out, scaled


def load_subset(data_dir) -> object:
    data = load_dataset("image_folder", path=data_dir, workers=2)
    return subset_dataset(data, SUBSET["train"], SUBSET["test"], SUBSET["seed"])


def run_variant(data, noise: str, rate: float, seed: int, variant: str, out_csv: pathlib.Path,
                epochs: int = BASE["epochs"]) -> pd.DataFrame:
    """Train one variant for ``epochs`` epochs (``pi_lr: auto`` resolved for the full 16, so the
    first epochs of a shortened run are those of the full one); write and return its table."""
    table = make_noisy_labels(data.y_train, data.num_classes, noise, rate, seed, "cifar10",
                              include_true=True, asymmetric_mapping="standard")
    noisy, is_noisy = table["noisy_label"].to_numpy(), table["is_noisy"].to_numpy()
    config = TrainConfig(**{**BASE, **VARIANTS[variant], "seed": seed})
    torch.set_num_threads(1)
    trainer = Trainer(data, noisy, data.y_train, config, name=f"{noise}-{rate}/{variant}/seed{seed}")
    stop = min(int(epochs), config.epochs)
    if trainer.is_also and config.also_mode == "extragrad":   # optimistic's passes are on different batches
        trainer.optimizer.__class__ = TracedALSO
    rows = []
    while trainer.epoch < stop:
        row = trainer.run_epoch()
        row["auc_loss"] = float(roc_auc_score(is_noisy, trainer.record.arrays["loss"][-1]))
        if trainer.is_also:
            row["auc_weight"] = float(roc_auc_score(is_noisy, -trainer.record.arrays["weight"][-1]))
            trace = trainer.optimizer.__dict__.pop("trace", [])
            if trace:
                row.update(pd.DataFrame(trace).mean().to_dict())
        row.update(variant=variant, noise=noise, rate=rate, seed=seed, epochs_run=stop)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    frame = pd.DataFrame(rows)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def summary(out: pathlib.Path) -> pd.DataFrame:
    """One row per (scenario, variant): epoch 1 -> 16 training loss, test accuracy max / final,
    π's AUC peak / final, seconds; the mean (± std) over the seeds found."""
    frames = [pd.read_csv(p) for p in sorted(out.glob("*/*.csv"))]
    if not frames:
        raise SystemExit(f"no finished runs under {out}")
    runs = []
    for (noise, rate, variant, seed), f in pd.concat(frames).groupby(["noise", "rate", "variant", "seed"]):
        auc = f["auc_weight"] if "auc_weight" in f and f["auc_weight"].notna().all() else f["auc_loss"]
        runs.append({"noise": noise, "rate": rate, "variant": variant, "seed": seed,
                     "loss_first": f["train_loss"].iloc[0], "loss_last": f["train_loss"].iloc[-1],
                     "test_max": f["test_acc"].max(), "test_last": f["test_acc"].iloc[-1],
                     "auc_peak": auc.max(), "auc_last": auc.iloc[-1],
                     "sign_flips": f["grad_sign_flips"].mean() if "grad_sign_flips" in f else np.nan,
                     "seconds": f["seconds"].sum()})
    runs = pd.DataFrame(runs)
    agg = runs.groupby(["noise", "rate", "variant"]).agg(["mean", "std", "count"])
    return agg


def pipeline_runs(results: pathlib.Path) -> pd.DataFrame:
    """The same per-run figures as :func:`summary`, read from a pipeline experiment's finished runs
    (``results/<experiment>/runs/<dataset>/<arch>/<method>/<noise>-<rate>-seed<seed>/``: its
    ``history.csv`` and ``signals.npz``; the ROC-AUC per epoch of −π for ALSO methods and of the
    loss for AdamW, as in the screen)."""
    rows = []
    for run in sorted(results.glob("runs/*/*/*/*-seed*")):
        if not (run / "signals.npz").exists():
            continue                                            # still training
        history = pd.read_csv(run / "history.csv")
        method = run.parent.name
        with np.load(run / "signals.npz") as rec:
            score = -rec["weight"] if "weight" in rec else rec["loss"]
            auc = pd.Series([roc_auc_score(rec["is_noisy"], s) for s in score])
        noise, rate, seed = run.name.rsplit("-", 2)
        rows.append({"noise": noise, "rate": float(rate), "method": method, "seed": int(seed[4:]),
                     "loss_first": history["train_loss"].iloc[0], "loss_last": history["train_loss"].iloc[-1],
                     "loss_max_rise": float(np.max(np.diff(history["train_loss"].to_numpy()), initial=0.0)),
                     "test_max": history["test_acc"].max(), "test_last": history["test_acc"].iloc[-1],
                     "auc_peak": auc.max(), "auc_last": auc.iloc[-1], "seconds": history["seconds"].sum()})
    if not rows:
        raise SystemExit(f"no finished runs under {results}/runs")
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/cifar10-jpg")
    parser.add_argument("--out", default="results/ablation")
    parser.add_argument("--scenarios", nargs="+", default=["symmetric:0.4", "asymmetric:0.4"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--epochs", type=int, default=BASE["epochs"],
                        help="stop after this many of the 16 epochs (a shorter screen; files get -e<N>)")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--from-pipeline", metavar="RESULTS", help="summarise a pipeline experiment's runs "
                        "(e.g. results/cifar10_cpu_3seeds): mean, std and count over its seeds")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.from_pipeline:
        runs = pipeline_runs(pathlib.Path(args.from_pipeline))
        agg = runs.drop(columns="seed").groupby(["noise", "rate", "method"]).agg(["mean", "std", "count"])
        with pd.option_context("display.width", 250, "display.max_columns", 100):
            print(agg.round(3).to_string())
        return
    if args.summary:
        with pd.option_context("display.width", 250, "display.max_columns", 100):
            print(summary(out).round(3).to_string())
        return
    data = None
    for seed in args.seeds:
        for scenario in args.scenarios:
            noise, rate = scenario.split(":")
            for variant in args.variants:
                suffix = "" if args.epochs == BASE["epochs"] else f"-e{args.epochs}"
                out_csv = out / f"{noise}-{rate}" / f"{variant}-seed{seed}{suffix}.csv"
                if out_csv.exists():
                    continue
                data = data or load_subset(args.data)
                start = time.perf_counter()
                run_variant(data, noise, float(rate), seed, variant, out_csv, args.epochs)
                print(f"# {out_csv}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
