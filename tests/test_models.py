"""ResNet-18/34, CIFAR variant: parameter counts, shapes, width scaling."""
import pytest
import torch

from alsofilter.training.models import build_model, count_parameters


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
