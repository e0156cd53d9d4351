"""Training benchmarks: bench_train (the FLOP counter against hand-counted MACs, the step counting
around the real Trainer, a tiny end-to-end run of the command line on CPU) and the GPU session
(benchmarks/gpu_session.py with its CIFAR pack and reference loops), run on a CPU."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
import torch
from torch import nn

from benchmarks import bench_train as bench
from alsofilter.training.models import build_model

REPO = Path(__file__).resolve().parents[1]


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


CIFAR_ZIP = REPO / ".." / "shared" / "data" / "cifar10-jpg.zip"
#: what the GPU machine's Python lacks; the training path and the GPU session must not need them
NOT_ON_THE_GPU_MACHINE = ("jsonschema", "snakemake", "cleanlab")


def _fake_cifar_zip(path, per_class=32, test_per_class=10, size=32):
    """A zip laid out like the shared CIFAR-10 zip, of learnable JPEGs (each class its colour)."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for split, n in (("train", per_class), ("test", test_per_class)):
            for c in range(10):
                for i in range(n):
                    colour = np.array([25 * c, 255 - 25 * c, 128], dtype=np.float64)
                    img = np.clip(colour + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(img).save(buf, format="JPEG")
                    archive.writestr(f"fake/{split}/class{c}/{i:04d}.jpg", buf.getvalue())
    return path


def _smoke_pack(tmp_path):
    """A pack of the real CIFAR-10's first 32 / 10 images per class, or of a fake zip without it."""
    from benchmarks import cifar_pack

    source = CIFAR_ZIP if CIFAR_ZIP.is_file() else _fake_cifar_zip(tmp_path / "fake.zip")
    cifar_pack.pack(source, tmp_path / "smoke.npz", train_per_class=32, test_per_class=10)
    return tmp_path / "smoke.npz", source == CIFAR_ZIP


@pytest.mark.skipif(not CIFAR_ZIP.is_file(), reason="needs ../shared/data/cifar10-jpg.zip")
def test_a_cifar_pack_is_the_extracted_image_folder(tmp_path):
    # the pack's images, labels and order are those load_image_folder reads from the same files
    import zipfile

    from alsofilter.data import load_image_folder
    from benchmarks import cifar_pack

    info = cifar_pack.pack(CIFAR_ZIP, tmp_path / "p.npz", train_per_class=3, test_per_class=2)
    assert (info["train"], info["test"]) == (30, 20) and info["classes"][0] == "airplane"
    with zipfile.ZipFile(CIFAR_ZIP) as archive:
        _, entries = cifar_pack.zip_entries(archive)
        for split, k in (("train", 3), ("test", 2)):
            labels = np.array([label for _, label in entries[split]])
            for i in cifar_pack.first_per_class(labels, k):
                archive.extract(entries[split][i][0], tmp_path / "folder")
    folder = load_image_folder(tmp_path / "folder" / "cifar10-jpg")
    packed = cifar_pack.load(tmp_path / "p.npz", workers=2)
    assert np.array_equal(packed.x_train, folder.x_train) and np.array_equal(packed.y_train, folder.y_train)
    assert np.array_equal(packed.x_test, folder.x_test) and np.array_equal(packed.y_test, folder.y_test)
    assert packed.class_names == folder.class_names and np.allclose(packed.mean, folder.mean)
    # a subset of the pack is the same subset of the folder
    one = cifar_pack.load(tmp_path / "p.npz", train_per_class=1, test_per_class=1)
    assert np.array_equal(one.x_train, folder.x_train[::3]) and np.array_equal(one.y_test, folder.y_test[::2])


def test_the_authors_style_also_is_the_projects_update_with_their_options():
    # benchmarks.reference_loops.AuthorsStyleALSO (their per-parameter Python loop, for timing) computes
    # ALSO(adam_eps=1e-20, also_l2_at="half"): same parameters and pi after 4 steps, in float64
    from alsofilter.training.also import ALSO
    from benchmarks.reference_loops import AuthorsStyleALSO

    torch.manual_seed(0)
    x, y = torch.randn(40, 6, dtype=torch.float64), torch.randint(0, 3, (40,))
    models = [nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    kwargs = dict(lr=1e-2, weight_decay=1e-2, pi_lr=1e-2, pi_decay=0.1)
    ours = ALSO(models[0].parameters(), 40, adam_eps=1e-20, also_l2_at="half", **kwargs)
    theirs = AuthorsStyleALSO(models[1].parameters(), 40, **kwargs)
    for step in range(4):
        idx = torch.arange(10 * step, 10 * step + 10)
        ours.step(idx, lambda: nn.functional.cross_entropy(models[0](x[idx]), y[idx], reduction="none"))

        def closure(weights, scale):
            models[1].zero_grad()
            scaled = nn.functional.cross_entropy(models[1](x[idx]), y[idx], reduction="none") * scale
            (weights * scaled).sum().backward()
            return scaled.detach(), scaled.mean().item() / scale

        theirs.step(closure, idx)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    assert torch.allclose(ours.pi, theirs.pi, rtol=1e-6) and not torch.allclose(ours.pi, torch.full((40,), 1 / 40))


def test_a_child_past_its_deadline_is_killed_and_what_it_said_is_kept(tmp_path):
    import sys
    import time

    from benchmarks import gpu_session

    said = []
    hang = [sys.executable, "-c", f"import time; print({gpu_session.MESSAGE!r} + '{{\"n\": 1}}', flush=True); "
                                  "time.sleep(120)"]
    start = time.time()
    (status,) = gpu_session.run_children([{"name": "hang"}], time.time() + 3, lambda spec, m: said.append(m),
                                         gpu_session.child_env(), tmp_path, command=lambda spec: hang)
    assert status["timed_out"] and status["rc"] != 0 and time.time() - start < 20
    assert said == [{"n": 1}]
    assert "deadline" in gpu_session.child_failure(status)


def test_packing_without_a_gpu_is_an_error(tmp_path):
    # no GPU seen by torch and none pretended: no runs start, the part says why
    from benchmarks import gpu_session

    session = gpu_session.Session(tmp_path / "r.json", {"packing": []})
    gpu_session.packing_part(session, gpu_session.SIZES["smoke"], "cpu", 0, None, tmp_path, tmp_path, 0.0)
    (row,) = session.result["packing"]
    assert row["status"].startswith("error: torch sees no GPU")
    assert json.loads((tmp_path / "r.json").read_text())["packing"] == [row]


def test_gpu_session_smoke_runs_without_the_packages_the_gpu_machine_lacks(tmp_path):
    """benchmarks/gpu_session.py --smoke end to end on a CPU, on real CIFAR-10 images (a fake
    zip's where the shared data are absent), in processes that cannot import jsonschema,
    snakemake or cleanlab (a sitecustomize on PYTHONPATH blocks them in the session and in every
    child): the speed rows of the three loops train (their loss falls), packing queues with one
    slot and runs side by side with two, the three paper runs record ROC-AUC per epoch."""
    import os
    import subprocess
    import sys

    pack, real = _smoke_pack(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        f"BLOCKED = {NOT_ON_THE_GPU_MACHINE!r}\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not installed on the GPU machine')\n"
        "sys.meta_path.insert(0, Blocker())\n"
        f"open({str(tmp_path / 'started')!r}, 'a').write(f'{{os.getpid()}}\\n')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO / "src"), str(REPO)])}
    out = tmp_path / "session.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_session", "--smoke", "--data", str(pack),
                           "--pretend-gpus", "1", "--out", str(out)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["finished"] and result["errors"] == [] and result["gpus_seen_by_torch"] == 0
    # the session and its 2 speed, 2 + 2 packing and 3 paper children all ran with the blocker
    assert len((tmp_path / "started").read_text().split()) >= 10
    blocked = subprocess.run([sys.executable, "-c", "import jsonschema"], env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "not installed on the GPU machine" in blocked.stderr

    rows = {(r["loop"], r["method"]): r for r in result["speed"]}
    assert set(rows) == {(loop, m) for loop in ("project", "plain", "authors") for m in ("adamw", "also-min")}
    for row in rows.values():
        assert row["status"] == "ok", row                    # trained, the loss fell, pi finite
        assert len(row["epochs"]) == 2 and row["timed_s"] == row["epochs"][1]["seconds"] > 0
        assert row["epochs"][1]["train_loss"] < row["epochs"][0]["train_loss"]
        assert 0 <= row["epochs"][1]["test_acc"] <= 1 and row["images"] == 320
        assert (row["epochs"][1]["pi_finite"] is None) == (row["method"] == "adamw")
    assert rows[("project", "adamw")]["backends"]["channels_last"] is False
    assert {s["method"] for s in result["speed_summary"]} == {"adamw", "also-min"}
    assert all(s["project_vs_plain"] > 0 and s["project_vs_authors"] > 0 for s in result["speed_summary"])

    unpacked, packed = result["packing"]
    assert (unpacked["jobs_per_gpu"], packed["jobs_per_gpu"]) == (1, 2) and unpacked["status"] == packed["status"] == "ok"
    assert {r["slot"]["slot"] for r in unpacked["per_run"]} == {0}
    assert max(r["waited_s"] for r in unpacked["per_run"]) > 0.5 * min(r["train_s"] for r in unpacked["per_run"])
    assert {r["slot"]["slot"] for r in packed["per_run"]} == {0, 1}

    paper = result["paper"]
    assert set(paper["runs"]) == {"paper-adamw", "paper-also-min", "paper-also-min-da"}
    assert paper["settings"]["paper-also-min-da"]["also_mode"] == "descent-ascent"
    assert paper["settings"]["paper-also-min"]["also_l2_at"] == "half"       # config/paper.yaml's
    assert 0.3 < paper["scenario"]["noisy_fraction"] < 0.45                 # 0.4 * 9/10 = 0.36
    for name, epochs in paper["runs"].items():
        assert [e["epoch"] for e in epochs] == [1, 2], name
        signals = {"loss", "loss_mean", "aum"} | ({"weight"} if "also" in name else set())
        assert all(set(e["roc_auc"]) == signals and all(0 <= v <= 1 for v in e["roc_auc"].values()) for e in epochs)
    if real:
        assert result["data"]["speed"]["classes"][0] == "airplane"


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
