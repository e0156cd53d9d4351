"""speed (issue 19): precision, memory format, TF32 and cuDNN autotuning set on purpose and recorded."""
import pytest
import torch

from alsofilter.config.settings import TrainConfig
from alsofilter.training.speed import apply_backend_flags, compiled, resolved_channels_last, resolved_precision


@pytest.fixture
def cuda_flags():
    """Leave torch's process-wide flags as they were."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def test_speed_decides_precision_and_memory_format_unless_they_are_set():
    assert (resolved_precision(TrainConfig()), resolved_channels_last(TrainConfig())) == ("fp32", False)
    fast = TrainConfig(speed="fast")
    assert (resolved_precision(fast), resolved_channels_last(fast)) == ("bf16", True)
    mixed = TrainConfig(speed="fast", precision="fp32", channels_last=False)
    assert (resolved_precision(mixed), resolved_channels_last(mixed)) == ("fp32", False)
    assert resolved_precision(TrainConfig(precision="bf16")) == "bf16"
    with pytest.raises(ValueError, match="speed"):
        TrainConfig(speed="ludicrous")


def test_cuda_flags_are_set_on_purpose_and_recorded(cuda_flags):
    # the flags are plain process settings: they can be set and read without a GPU
    exact = apply_backend_flags(TrainConfig(), torch.device("cuda"))
    assert exact["tf32_matmul"] is exact["tf32_cudnn"] is False and exact["cudnn_benchmark"] is True
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    fast = apply_backend_flags(TrainConfig(speed="fast", deterministic=True), torch.device("cuda"))
    assert fast["tf32_matmul"] is fast["tf32_cudnn"] is True and fast["cudnn_benchmark"] is False
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.benchmark
    cpu = apply_backend_flags(TrainConfig(speed="fast"), torch.device("cpu"))
    assert cpu["tf32_matmul"] is None and cpu["precision"] == "bf16" and cpu["compile"] == "none"


def test_compile_none_is_the_model_and_bad_modes_are_named():
    model = torch.nn.Linear(2, 2)
    assert compiled(model, "none") is model
    with pytest.raises(ValueError, match="compile"):
        compiled(model, "fastest")
    with pytest.raises(ValueError, match="compile"):
        TrainConfig(compile="fastest")
    # CUDA graphs would overwrite the extragradient's first-pass outputs: refused until measured
    for mode in ("reduce-overhead", "max-autotune"):
        with pytest.raises(ValueError, match=f"compile '{mode}' captures the network in CUDA graphs"):
            TrainConfig(method="also-min", compile=mode)
        TrainConfig(method="also-min", also_mode="descent-ascent", compile=mode)
        TrainConfig(method="adamw", compile=mode)


def test_a_compiled_network_trains_like_the_plain_one(monkeypatch):
    """compile: the Trainer steps through torch.compile's graph capture (dynamo + AOTAutograd, the
    aot_eager backend: the same capture inductor compiles, without its minutes of C++ codegen on a
    CPU), in training and evaluation, and learns what the plain network learns."""
    import functools

    import numpy as np

    from alsofilter.data import load_digits_dataset, subset_dataset
    from alsofilter.training import speed
    from alsofilter.training.trainer import Trainer

    torch._dynamo.reset()
    monkeypatch.setattr(speed.torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    data = subset_dataset(load_digits_dataset(), train=300, test=100, seed=0)
    settings = dict(method="also-min", width=4, epochs=2, batch_size=64, crop_padding=0, flip=False,
                    device="cpu", seed=1, pi_lr=3e-3)
    torch.set_num_threads(1)
    runs = {}
    # "default": the extragradient refuses the CUDA-graph modes (test above); the capture is the same
    for mode in ("none", "default"):
        trainer = Trainer(data, data.y_train, data.y_train, TrainConfig(compile=mode, **settings))
        trainer.fit(progress=False)
        runs[mode] = trainer
    assert runs["default"].network is not runs["default"].model
    assert runs["default"].backends["compile"] == "default"
    plain, fast = (np.array([h["train_loss"] for h in runs[m].record.history]) for m in ("none", "default"))
    assert np.allclose(plain, fast, rtol=1e-3), (plain, fast)
    assert np.allclose(runs["none"].record.arrays["weight"][-1], runs["default"].record.arrays["weight"][-1],
                       rtol=1e-3, atol=1e-7)
    # the checkpoint holds the network's own state dict (no compile wrapper prefix)
    assert all(not k.startswith("_orig_mod") for k in runs["default"].state_dict()["model"])
