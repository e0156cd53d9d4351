"""Cost of the CIFAR-10 scale ladder (``config/cifar10_ladder.yaml``) before it runs.

For every rung (training-set size), method and torch thread count it times the project's real
training loop (:class:`alsofilter.training.trainer.Trainer`, through
:func:`benchmarks.bench_train.project_epoch_time`) on the ladder's real images: the stratified
subset of that size from the CIFAR-10 image folder, its training settings read from the ladder
config itself (width, batch size, augmentation, ``pi_lr: auto``, ALSO mode of each variant). A
block of ``--steps`` training steps is timed after ``--warmup`` untimed ones, and one evaluation
pass over the shared test set; an epoch is then

    s_per_epoch = steps_per_epoch(N, batch) x s_per_step + s_eval_test

in wall seconds, and the same in process CPU seconds (``cpu_s_per_epoch``). The ladder's cost is
the sum over its runs of ``epochs x s_per_epoch`` in core-hours (threads x hours), from the CPU
time with one thread (it hardly depends on what else the machine runs: the time the job takes on
a core of its own) and from the wall time with more (which does: measure on an idle machine).

    python -m benchmarks.ladder_cost --steps 20 --out results/cifar10_ladder/cost.csv
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd
import torch
import yaml

from alsofilter.config import dataset_spec, expand_runs, training_settings, validate
from alsofilter.config.settings import TrainConfig, resolve_pi_lr
from alsofilter.data.loading import load_pipeline_dataset
from alsofilter.data.subset import subset_dataset
from benchmarks.bench_train import ProjectRunner, project_epoch_time, steps_per_epoch

LADDER = os.path.join(os.path.dirname(__file__), "..", "config", "cifar10_ladder.yaml")


def rung_datasets(config: dict) -> dict[str, dict]:
    """The ladder's datasets by name with their subset section, smallest first."""
    sections = config["datasets"]
    return dict(sorted(sections.items(), key=lambda kv: kv[1]["subset"]["train"]))


def time_configuration(data, settings: dict, threads: int, steps: int, warmup: int) -> dict:
    """One (rung, method, threads) measurement: seconds per step (wall and process CPU) and
    seconds for one evaluation pass over the test set."""
    torch.set_num_threads(threads)
    settings = dict(settings)
    settings["pi_lr"] = resolve_pi_lr(settings.get("pi_lr"), data.num_train, settings["batch_size"],
                                      settings["epochs"])
    config = TrainConfig(**settings)
    step = project_epoch_time(data, config, steps=steps, warmup=warmup)
    runner = ProjectRunner(data, config)
    trainer = runner.trainer
    trainer.predict(trainer.x_test[:trainer.config.eval_batch_size], trainer.y_test[:trainer.config.eval_batch_size])
    cpu0, start = time.process_time(), time.perf_counter()
    trainer.predict(trainer.x_test, trainer.y_test)
    eval_s, eval_cpu = time.perf_counter() - start, time.process_time() - cpu0
    s_step, cpu_step = step["seconds"] / step["steps"], step["cpu_ms_per_step"] / 1e3
    steps = steps_per_epoch(data.num_train, config.batch_size)
    return {"s_per_step": s_step, "cpu_s_per_step": cpu_step, "s_eval_test": eval_s, "cpu_s_eval_test": eval_cpu,
            "s_per_epoch": steps * s_step + eval_s, "cpu_s_per_epoch": steps * cpu_step + eval_cpu,
            "epochs": config.epochs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=LADDER)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per configuration")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    p.add_argument("--sizes", default=None, help="only these rungs (comma-separated training-set sizes)")
    p.add_argument("--out", default=None, help="CSV of the measurements")
    args = p.parse_args(argv)
    with open(args.config) as fh:
        config = validate(yaml.safe_load(fh))
    wanted = None if args.sizes is None else {int(s) for s in args.sizes.split(",")}
    runs = expand_runs(config)
    rows = []
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
          file=sys.stderr)
    for name, section in rung_datasets(config).items():
        size = section["subset"]["train"]
        if wanted is not None and size not in wanted:
            continue
        full = load_pipeline_dataset(name, config.get("data_dir"), dataset_spec(config, name))
        data = subset_dataset(full, **section["subset"])
        for method in config["methods"]:
            run = next(r for r in runs if r.dataset == name and r.method == method)
            seeds = sum(1 for r in runs if r.dataset == name and r.method == method)
            settings = training_settings(config, run)
            for threads in (int(t) for t in args.threads.split(",")):
                row = {"rung": size, "method": method, "threads": threads, "seeds": seeds,
                       **time_configuration(data, settings, threads, args.steps, args.warmup)}
                # one thread: CPU time = the job's time on a core of its own; more threads: wall time
                per_epoch = row["cpu_s_per_epoch"] if threads == 1 else row["s_per_epoch"]
                row["core_hours"] = seeds * row["epochs"] * per_epoch * threads / 3600
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1,
                                                    float_format="%.3f"), flush=True)
        del full, data
    table = pd.DataFrame(rows)
    for threads, group in table.groupby("threads"):
        print(f"ladder at {threads} thread(s) per job: {group['core_hours'].sum():.1f} core-hours "
              f"({(group['core_hours'] / threads).sum():.1f} job-hours)")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
