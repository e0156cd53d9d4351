"""Regression test for the oneDNN heap corruption at small widths (uxlfoundation/oneDNN#6035).

Before the fix, the ResNet-18 at width 2 or 4 on the real digits data corrupted the heap in most
runs within three epochs ("corrupted double-linked list", SIGABRT, SIGSEGV, or a hang on a broken
heap lock). Each training here runs in a fresh process, so a corruption shows as a non-zero exit
status; the stall watchdog turns a hang into a failure too.
"""
import itertools
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from alsofilter.training.models import PointwiseConv2d, build_model

TRAIN = """
import sys
import torch
from alsofilter.data import load_digits_dataset
from alsofilter.data.noise import make_noisy_labels
from alsofilter.training.trainer import Trainer, TrainConfig
from alsofilter.training.watchdog import StallWatchdog
width, method, channels_last = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
torch.set_num_threads(1)
data = load_digits_dataset()
table = make_noisy_labels(data.y_train, 10, "symmetric", 0.4, 0, "digits")
config = TrainConfig(method=method, width=width, epochs=3, batch_size=128, crop_padding=0, flip=False,
                     device="cpu", pi_lr=3e-3, channels_last=channels_last)
trainer = Trainer(data, table["noisy_label"].to_numpy(), table["true_label"].to_numpy(), config)
with StallWatchdog(60, progress=lambda: trainer.batches_done, describe=trainer.where):
    trainer.fit(progress=False)
print("clean exit")
"""
CASES = list(itertools.product((2, 4), ("adamw", "also-min"), (False, True)))


def test_small_widths_train_without_memory_corruption():
    """8 trainings (widths 2 and 4, AdamW and ALSO-min, both memory formats), 2 at a time, each in
    its own process: every one must exit cleanly."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_CHECK_": "3"}   # glibc: abort on heap damage
    failures = []
    for pair in (CASES[i:i + 2] for i in range(0, len(CASES), 2)):
        procs = [(case, subprocess.Popen([sys.executable, "-c", TRAIN, str(case[0]), case[1], str(int(case[2]))],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
                 for case in pair]
        for case, proc in procs:
            out = proc.communicate(timeout=240)[0]
            if proc.returncode != 0 or "clean exit" not in out:
                failures.append(f"width={case[0]} {case[1]} channels_last={case[2]}: exit {proc.returncode}\n"
                                f"{out[-1500:]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_conv_equals_conv2d(stride, channels_last):
    """Same output, input gradient and weight gradient as nn.Conv2d(k=1), in both memory formats."""
    torch.manual_seed(stride)
    ours = PointwiseConv2d(4, 8, stride)
    ref = nn.Conv2d(4, 8, 1, stride=stride, bias=False)
    ref.load_state_dict(ours.state_dict())          # same parameter names and shapes
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(3, 4, 9, 9).to(memory_format=fmt).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = ours(x), ref(x_ref)
    assert y.shape == y_ref.shape and y.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(y, y_ref)
    grad = torch.randn_like(y_ref)
    (y * grad).sum().backward()
    (y_ref * grad).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)


def test_every_1x1_convolution_of_the_resnets_takes_the_detour():
    for arch in ("resnet18", "resnet34"):
        convs = [m for m in build_model(arch, 10, 3, 4).modules() if isinstance(m, nn.Conv2d)]
        pointwise = [m for m in convs if m.kernel_size == (1, 1)]
        assert pointwise and all(isinstance(m, PointwiseConv2d) for m in pointwise)
