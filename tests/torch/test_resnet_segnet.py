"""ResNet50-SegNet's options (chapter 7): encoder level, pooling indices, the article's half resolution."""

import numpy as np
import pytest
import torch

from segdemo.torch import backbones, resnet50_segnet


def test_indexed_encoder_keeps_torchvisions_parameters():
    # Same names and shapes: torchvision's ImageNet state dict loads into the indexed encoder too.
    plain = {key: value.shape for key, value in backbones.resnet50(stages=4).state_dict().items()}
    indexed = {key: value.shape for key, value in backbones.resnet50(stages=4, pool_indices=True).state_dict().items()}
    assert indexed == plain


def test_indexed_encoder_records_one_pool_per_stride_two_step():
    encoder = backbones.resnet50(stages=3, pool_indices=True).eval()
    with torch.no_grad():
        features, pools = encoder.forward_with_indices(torch.rand(1, 3, 64, 96))
    assert [size for _, size in pools] == [(64, 96), (32, 48), (16, 24), (8, 12)]
    assert [tuple(indices.shape[1:]) for indices, _ in pools] == [(64, 32, 48), (64, 16, 24), (128, 8, 12),
                                                                (256, 4, 6)]
    assert all(indices.dtype == torch.int64 for indices, _ in pools)
    # The features have the strides of the plain encoder.
    assert [tuple(map_.shape[-2:]) for map_ in features] == [(32, 48), (16, 24), (8, 12), (4, 6)]


def test_plain_encoder_records_no_pool():
    with torch.no_grad():
        _, pools = backbones.resnet50(stages=2).eval().forward_with_indices(torch.rand(1, 3, 32, 32))
    assert pools == []


@pytest.mark.parametrize(("level", "stride"), [(2, 1), (3, 2), (4, 4)])
def test_half_resolution_output_has_the_score_stride(level, stride):
    model = resnet50_segnet(3, encoder_level=level, full_resolution=False).eval()
    assert model.score_stride == stride
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 70, 45))
    assert tuple(logits.shape) == (1, 3, -(-70 // stride), -(-45 // stride))


@pytest.mark.parametrize("level", [2, 3, 4])
def test_indices_give_full_resolution_logits(level):
    model = resnet50_segnet(3, encoder_level=level, indices=True).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 35, 33))
    assert tuple(logits.shape) == (1, 3, 35, 33) and model.score_stride == 1


def test_indices_decoder_widths_follow_the_pools():
    model = resnet50_segnet(3, indices=True)
    widths = [block.conv.out_channels for block in model.decoder]
    assert widths == [256, 128, 64, 64]
    assert [block.conv.out_channels for block in resnet50_segnet(3).decoder] == [512, 256, 128, 64]


@pytest.mark.parametrize("level", [0, 1, 5, True, 3.0])
def test_bad_encoder_level_is_refused(level):
    with pytest.raises(ValueError, match="encoder_level must be one of"):
        resnet50_segnet(3, encoder_level=level)


def test_indices_without_full_resolution_are_refused():
    with pytest.raises(ValueError, match="full_resolution=True"):
        resnet50_segnet(3, indices=True, full_resolution=False)


def test_input_below_the_output_stride_is_refused():
    with pytest.raises(ValueError, match="at least 32x32"):
        resnet50_segnet(3, encoder_level=4)(torch.rand(1, 3, 16, 64))


def test_fit_refuses_the_half_resolution_output_with_a_clear_error():
    from segdemo.torch.train import fit

    images = np.zeros((2, 32, 32, 3), np.uint8)
    masks = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(ValueError, match=r"16x16 logits for 32x32 images.*full_resolution=True"):
        fit(resnet50_segnet(3, full_resolution=False), (images, masks), None, num_classes=3, epochs=1,
            batch_size=2, progress=False)
