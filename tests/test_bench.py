"""Training benchmark (benchmarks.bench_train): the FLOP counter against hand-counted MACs, the step
counting around the real Trainer, and a tiny end-to-end run of the command line on CPU."""
import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmarks import bench_train as bench
from alsofilter.training.models import build_model


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)                  # 1x5x5 -> 2x5x5
        self.conv2 = nn.Conv2d(2, 4, 3, stride=2, padding=1)        # -> 4x3x3
        self.conv3 = nn.Conv2d(4, 4, 1, groups=2, bias=False)       # -> 4x3x3, grouped
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(36, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.bn(self.conv3(self.conv2(x)))
        return self.fc(x.flatten(1))


def test_count_macs_by_hand():
    # conv1: 2*5*5 outputs x (1*3*3) = 450; conv2: 4*3*3 x (2*3*3) = 648;
    # conv3: 4*3*3 x (4/2 * 1*1) = 72; fc: 10 x 36 = 360  -> 1530 MACs
    net = TinyNet().train()
    assert bench.count_macs(net, (1, 5, 5)) == 1530
    assert bench.model_flops_per_image(net, (1, 5, 5)) == 3060
    assert net.training  # mode restored, hooks removed
    assert all(not m._forward_hooks for m in net.modules())
    assert bench.train_flops_per_image(3060, "adamw") == 3 * 3060
    assert bench.train_flops_per_image(3060, "also-min") == 2 * 3 * 3060
    assert bench.train_flops_per_image(3060, "also-min", "optimistic") == 3 * 3060


def test_count_macs_resnet18_cifar():
    # the well-known 0.56 GMACs of the CIFAR ResNet-18 (3x3 stem, no max-pool)
    assert bench.count_macs(build_model("resnet18", 10, 3, 64), (3, 32, 32)) == 555_422_720


def test_random_data_and_steps_per_epoch():
    ds = bench.random_cifar_like(100, (3, 8, 8), 10, seed=1)
    assert ds.x_train.shape == (100, 3, 8, 8) and ds.x_train.dtype == np.uint8
    assert ds.y_train.min() >= 0 and ds.y_train.max() < 10 and ds.num_classes == 10
    assert len(ds.mean) == 3 and all(0.4 < m < 0.6 for m in ds.mean)
    assert bench.steps_per_epoch(1437, 64) == 23
    assert bench.steps_per_epoch(129, 64) == 2      # trailing batch of one joins the previous
    assert bench.steps_per_epoch(50_000, 512) == 98


def test_project_runner_counts_steps_across_epochs():
    torch.set_num_threads(1)
    ds = bench.random_cifar_like(70, (1, 8, 8), 10, seed=0)
    cfg = bench.make_config("resnet18", "also-min", 16, 2, torch.device("cpu"), 1, True, 3e-3)
    runner = bench.ProjectRunner(ds, cfg)
    seconds, images, steps, cpu = runner.run(3)
    assert steps == 3 and images == 48 and runner.trainer._partial.position == 3
    seconds, images, steps, cpu = runner.run(3)      # 70 = 4x16 + 6: epoch ends after step 5
    assert steps == 3 and images == 16 + 6 + 16 and runner.trainer._partial.position == 1
    assert seconds > 0 and cpu > 0 and not runner.trainer.stop_requested


def test_reference_dataset_per_sample_transforms():
    ds = bench.random_cifar_like(10, (3, 6, 6), 10, seed=0)
    ref = bench.ReferenceDataset(ds.x_train, ds.y_train, ds.mean, ds.std, padding=0, flip=False)
    img, label, idx = ref[3]
    expected = (torch.from_numpy(ds.x_train[3]).float() / 255 - torch.tensor(ds.mean).view(-1, 1, 1)) \
        / torch.tensor(ds.std).view(-1, 1, 1)
    assert torch.allclose(img, expected, atol=1e-6) and label == ds.y_train[3] and idx == 3
    ref = bench.ReferenceDataset(ds.x_train, ds.y_train, ds.mean, ds.std, padding=2, flip=True)
    assert ref[0][0].shape == (3, 6, 6) and ref[0][0].dtype == torch.float32


def test_main_tiny_cpu(tmp_path, capsys):
    csv = tmp_path / "bench.csv"
    table = bench.main(["--preset", "quick", "--device", "cpu", "--width", "4", "--steps", "3",
                        "--warmup", "1", "--batch-sizes", "16", "--num-images", "128",
                        "--matmul-size", "256", "--threads", "1", "--csv", str(csv)])
    out = capsys.readouterr().out
    assert "fp32 matmul rate" in out and "speedup_vs_ref" in out and "also_over_adamw" in out
    assert list(table["method"]) == ["adamw", "also-min"]
    numeric = ["img_per_s", "s_per_epoch_128", "ms_per_step", "achieved_tflops", "pct_of_matmul_peak",
               "ref_img_per_s", "speedup_vs_ref"]
    for frame in (table, pd.read_csv(csv)):
        for col in numeric:
            values = frame[col].to_numpy(dtype=float)
            assert np.all(np.isfinite(values)) and np.all(values > 0), col
    written = pd.read_csv(csv)
    assert {"device_name", "torch", "python", "date", "command", "matmul_peak_tflops"} <= set(written.columns)
    row = written.iloc[0]
    assert math.isclose(row["s_per_epoch_128"], 128 / row["img_per_s"], rel_tol=1e-9)
    assert row["steps"] == 3
    assert row["cpu_ms_per_step"] > 0 and row["ref_cpu_ms_per_step"] > 0 and row["cpu_speedup_vs_ref"] > 0


def test_gpu_session_script_runs_on_a_cpu(tmp_path):
    """benchmarks/gpu_session.py, prepared for a GPU session, runs end to end on tiny sizes: whole
    epochs of both loops, and packing: with one slot per GPU the second run waits for the first,
    with two they run side by side in slots 0 and 1 of the (pretend) GPU."""
    import json

    from benchmarks import gpu_session

    result = gpu_session.main(["--smoke", "--out", str(tmp_path / "session.json")])
    assert json.loads((tmp_path / "session.json").read_text())["epochs"] == result["epochs"]
    assert [(r["method"], r["speed"]) for r in result["epochs"]] == [("adamw", "exact"), ("also-min", "exact")]
    assert all(r["project_s"] > 0 and r["reference_s"] > 0 for r in result["epochs"])
    unpacked, packed = result["packing"]
    assert (unpacked["jobs_per_gpu"], packed["jobs_per_gpu"]) == (1, 2)
    assert {r["slot"]["slot"] for r in unpacked["per_run"]} == {0}
    assert max(r["waited_s"] for r in unpacked["per_run"]) > 0.5 * min(r["train_s"] for r in unpacked["per_run"])
    assert {r["slot"]["slot"] for r in packed["per_run"]} == {0, 1}


def test_digits_run_trains_the_demo_recipe(capsys):
    # one epoch of the demo's training; the same seed gives the same loss twice (what an A/B of a
    # code change compares), and ALSO trains too
    from benchmarks import digits_run

    first = digits_run.main(["adamw", "--epochs", "1", "--width", "2"])
    again = digits_run.main(["adamw", "--epochs", "1", "--width", "2"])
    assert first["final_train_loss"] == again["final_train_loss"] and np.isfinite(first["final_train_loss"])
    also = digits_run.main(["also-min", "--epochs", "1", "--width", "2"])
    assert np.isfinite(also["final_train_loss"]) and also["fit_s"] > 0
    assert "adamw: fit" in capsys.readouterr().out
