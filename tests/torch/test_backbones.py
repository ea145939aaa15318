"""Encoders with torchvision's names: parameter counts, state-dict names, offline ImageNet weights."""

import urllib.error

import pytest
import torch

from segdemo.torch import backbones

VGG16_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def vgg16_conv_parameters() -> int:
    """3x3 convolutions with bias, input channels chained from 3."""
    inputs = [3] + VGG16_CHANNELS[:-1]
    return sum(9 * c_in * c_out + c_out for c_in, c_out in zip(inputs, VGG16_CHANNELS))


def count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_vgg16_parameter_count_matches_arithmetic_and_torchvision():
    assert vgg16_conv_parameters() == 14_714_688  # torchvision's vgg16().features, a published number
    assert count(backbones.vgg16()) == vgg16_conv_parameters()


def test_vgg16_bn_adds_gamma_and_beta_per_channel():
    assert count(backbones.vgg16_bn()) == vgg16_conv_parameters() + 2 * sum(VGG16_CHANNELS)


def test_resnet50_parameter_count_is_torchvisions_without_fc():
    # torchvision's resnet50 has 25,557,032 parameters, of which fc (2048 -> 1000) has 2048 * 1000 + 1000.
    assert count(backbones.resnet50()) == 25_557_032 - (2048 * 1000 + 1000)


@pytest.mark.parametrize(
    "builder, expected_keys",
    [
        (backbones.vgg16, ["features.0.weight", "features.28.bias"]),
        (backbones.vgg16_bn, ["features.1.running_var", "features.40.weight", "features.41.num_batches_tracked"]),
        (backbones.resnet50, ["conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight",
                              "layer4.2.bn3.bias"]),
    ],
)
def test_state_dict_uses_torchvision_names_and_round_trips(builder, expected_keys, tmp_path):
    torch.manual_seed(0)
    source = builder()
    state_dict = source.state_dict()
    assert set(expected_keys) <= set(state_dict)
    path = tmp_path / "weights.pth"
    torch.save(state_dict, path)
    target = builder()
    target.load_state_dict(torch.load(path), strict=True)
    images = torch.rand(1, 3, 32, 32)
    source.eval(), target.eval()
    with torch.no_grad():
        assert torch.equal(source(images)[-1], target(images)[-1])


def test_vgg16_encoder_returns_five_pooled_maps():
    shapes = [tuple(x.shape) for x in backbones.vgg16()(torch.rand(1, 3, 64, 64))]
    assert shapes == [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4), (1, 512, 2, 2)]


def test_resnet50_encoder_returns_stage_outputs():
    with torch.no_grad():
        shapes = [tuple(x.shape) for x in backbones.resnet50().eval()(torch.rand(1, 3, 64, 64))]
    assert shapes == [(1, 64, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]


def test_offline_imagenet_weights_print_one_line_and_keep_random_init(monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    encoder = backbones.vgg16(weights="imagenet")
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "vgg16" in lines[0] and "random initialisation" in lines[0] and "Traceback" not in captured.err
    assert isinstance(encoder, backbones.VGG16Encoder)


def test_imagenet_weights_are_loaded_by_torchvision_name(monkeypatch):
    reference = backbones.vgg16_bn()
    published = {**reference.state_dict(), "classifier.0.weight": torch.zeros(1)}  # extra keys are ignored
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *args, **kwargs: published)
    loaded = backbones.vgg16_bn(weights="imagenet")
    assert torch.equal(loaded.features[40].weight, reference.features[40].weight)


def test_unknown_weights_raise():
    with pytest.raises(ValueError, match="'imagenet'"):
        backbones.vgg16(weights="coco")


def test_unknown_weight_file_name_raises():
    with pytest.raises(ValueError, match="resnet101"):
        backbones.load_torchvision_weights("resnet101")


def test_resnet50_stages_must_be_one_to_four():
    with pytest.raises(ValueError, match="stages"):
        backbones.resnet50(stages=5)


def test_upsample_nearest_to_odd_size_repeats_last_row():
    features = torch.arange(4.0).view(1, 1, 2, 2)
    upsampled = backbones.upsample_nearest_to(features, (5, 4))
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]], dtype=torch.float32)
    assert torch.equal(upsampled[0, 0], expected)
