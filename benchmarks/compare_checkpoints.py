"""Does a resumed run equal an uninterrupted one? Compare two training checkpoints epoch by epoch.

Each checkpoint (``results/<experiment>/checkpoints/<run>/checkpoint.pt``) holds the run's
history and its per-sample signals of every finished epoch. For the epochs both have finished
this prints each epoch's mean training loss, training and clean test accuracy from both, and
whether the per-sample arrays (loss, prediction, margin and, for ALSO, π) are bit-identical; it
exits 1 when any differs. The model and optimizer states are compared too when both checkpoints
end at the same epoch.

    python -m benchmarks.compare_checkpoints resumed/checkpoint.pt uninterrupted/checkpoint.pt
"""
from __future__ import annotations

import argparse
import sys

import torch


def load(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def compare(a: dict, b: dict) -> tuple[list[dict], bool]:
    """Rows per common epoch and whether everything compared is bit-identical."""
    rows, same = [], True
    epochs = min(len(a["history"]), len(b["history"]))
    for e in range(epochs):
        ha, hb = a["history"][e], b["history"][e]
        arrays = {k: torch.equal(a["record"][k][e], b["record"][k][e]) for k in a["record"] if k in b["record"]}
        equal = all(arrays.values()) and all(ha[k] == hb[k] for k in ("train_loss", "train_acc", "test_acc"))
        same &= equal
        rows.append({"epoch": e + 1, "train_loss": (ha["train_loss"], hb["train_loss"]),
                     "test_acc": (ha["test_acc"], hb["test_acc"]), "arrays": arrays, "identical": equal})
    if a["epoch"] == b["epoch"] and a.get("partial") is None and b.get("partial") is None:
        model = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
        rows.append({"epoch": a["epoch"], "model_state_identical": model})
        same &= model
    return rows, same


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first")
    p.add_argument("second")
    args = p.parse_args(argv)
    a, b = load(args.first), load(args.second)
    if a["settings"] != b["settings"]:
        differ = {k: (a["settings"].get(k), v) for k, v in b["settings"].items() if a["settings"].get(k) != v}
        print(f"settings differ: {differ}")
        return 1
    rows, same = compare(a, b)
    print(f"first: epoch {a['epoch']}, second: epoch {b['epoch']}; comparing {len(a['history'])} vs "
          f"{len(b['history'])} finished epochs")
    for row in rows:
        if "model_state_identical" in row:
            print(f"  model state after epoch {row['epoch']}: {'identical' if row['model_state_identical'] else 'DIFFERS'}")
            continue
        (la, lb), (ta, tb) = row["train_loss"], row["test_acc"]
        arrays = ", ".join(f"{k} {'=' if v else '≠'}" for k, v in row["arrays"].items())
        print(f"  epoch {row['epoch']:3d}: train loss {la:.10f} / {lb:.10f}, test acc {ta:.4f} / {tb:.4f}; "
              f"per-sample {arrays}; {'identical' if row['identical'] else 'DIFFERENT'}")
    print("bit-identical" if same else "NOT identical")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
