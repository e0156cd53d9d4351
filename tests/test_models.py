"""ResNet-18/34, CIFAR variant: parameter counts, shapes, width scaling."""
import pytest
import torch

import torch.nn.functional as F

from alsofilter.training.models import OnePixelConv2d, build_model, count_parameters


@pytest.mark.parametrize("arch, millions", [("resnet18", 11.17), ("resnet34", 21.28)])
def test_parameter_counts_match_the_cifar_resnets(arch, millions):
    # 11.2 M and 21.3 M parameters for 10 classes (SPEC §6, kuangliu's pytorch-cifar)
    assert count_parameters(build_model(arch, num_classes=10)) / 1e6 == pytest.approx(millions, abs=0.01)


def test_cifar_stem_keeps_resolution_and_outputs_logits():
    model = build_model("resnet18", num_classes=100, in_channels=3, width=8).eval()
    stem = model.conv1
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert model.linear.in_features == 8 * 8      # widths w, 2w, 4w, 8w


def test_grey_scale_small_images_and_width():
    model = build_model("resnet34", num_classes=10, in_channels=1, width=4).eval()
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert count_parameters(model) < count_parameters(build_model("resnet34", 10, 1, width=8))


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="resnet50"):
        build_model("resnet50", 10)


@pytest.mark.parametrize("in_ch, out_ch, size, stride", [
    (16, 16, 1, 1),     # last stage of a ResNet on 8x8 digits: 1x1 -> 1x1
    (8, 16, 2, 2),      # its first convolution: 2x2 -> 1x1 at stride 2
    (8, 8, 2, 1),       # 2x2 -> 2x2: not one output pixel, the convolution itself
    (4, 8, 8, 2),
])
def test_conv2d_single_pixel_path_equals_the_convolution(in_ch, out_ch, size, stride):
    # The matrix-product path must give the convolution's output and both gradients, in both
    # memory formats, with the same parameters and state_dict keys as nn.Conv2d.
    torch.manual_seed(0)
    conv = OnePixelConv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False).double()
    assert list(conv.state_dict()) == list(torch.nn.Conv2d(in_ch, out_ch, 3, bias=False).state_dict())
    x0 = torch.randn(5, in_ch, size, size, dtype=torch.float64)
    for x in (x0, x0.contiguous(memory_format=torch.channels_last)):
        x = x.detach().requires_grad_()
        ours = conv(x)
        ref = F.conv2d(x, conv.weight, stride=stride, padding=1)
        assert ours.shape == ref.shape
        g = torch.randn_like(ref)
        grads = torch.autograd.grad(ours, (x, conv.weight), g)
        ref_grads = torch.autograd.grad(ref, (x, conv.weight), g)
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_digits_resnet_routes_its_last_stage_around_the_convolution(monkeypatch):
    # On 8x8 inputs the last stage sees 2x2 and 1x1 maps: its four 3x3 convolutions take the
    # matrix-product path, the rest stay convolutions.
    model = build_model("resnet18", 10, 1, width=4)
    calls = []
    monkeypatch.setattr(F, "linear", lambda *a, _linear=F.linear, **k: calls.append(a[1].shape) or _linear(*a, **k))
    model(torch.zeros(2, 1, 8, 8))
    assert len([s for s in calls if s == (32, 16 * 4)]) == 1        # 2x2 -> 1x1, stride 2
    assert len([s for s in calls if s == (32, 32)]) == 3            # 1x1 -> 1x1


def test_stages_are_named_and_flat_checkpoints_of_old_code_still_load():
    # pytorch-cifar's names: layer1..layer4; a state_dict written before (one flat "layers" list,
    # blocks counted across the stages) loads into the named stages, parameter for parameter
    torch.manual_seed(0)
    model = build_model("resnet34", num_classes=10, in_channels=1, width=4)
    assert [len(getattr(model, f"layer{s}")) for s in range(1, 5)] == [3, 4, 6, 3]
    named = model.state_dict()
    flat_names = [f"layer{s}.{b}." for s in range(1, 5) for b in range(len(getattr(model, f"layer{s}")))]
    old = {}
    for key, value in named.items():
        for k, name in enumerate(flat_names):
            if key.startswith(name):
                key = f"layers.{k}." + key[len(name):]
                break
        old[key] = value.clone()
    assert "layers.15.conv2.weight" in old and not any(k.startswith("layer1.") for k in old)
    torch.manual_seed(1)
    other = build_model("resnet34", num_classes=10, in_channels=1, width=4)
    other.load_state_dict(old)
    for key, value in other.state_dict().items():
        torch.testing.assert_close(value, named[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="block 16"):
        build_model("resnet34", 10, 1, width=4).load_state_dict({**old, "layers.16.conv1.weight": old["layers.0.conv1.weight"]})
