"""segdemo.architecture: the channel counts both frameworks build from."""

import pytest

from segdemo import architecture


def test_width_64_is_vgg16():
    assert architecture.vgg16_stages() == architecture.VGG16_STAGES
    assert architecture.vgg16_stages(64)[0] == (64, 64) and architecture.vgg16_stages(64)[4] == (512, 512, 512)
    assert architecture.fcn_channels() == 4096


@pytest.mark.parametrize("width", [1, 8, 32, 48])
def test_every_stage_scales_with_the_width(width):
    stages = architecture.vgg16_stages(width)
    assert [len(stage) for stage in stages] == [2, 2, 3, 3, 3]
    assert [stage[0] for stage in stages] == [width, 2 * width, 4 * width, 8 * width, 8 * width]
    assert all(len(set(stage)) == 1 for stage in stages)
    assert architecture.fcn_channels(width) == 64 * width


@pytest.mark.parametrize("width", [0, -3, 2.0, True, "32"])
def test_a_width_that_is_not_a_positive_integer_is_refused(width):
    with pytest.raises(ValueError, match=f"width must be a positive integer, got {width!r}"):
        architecture.vgg16_stages(width)


def test_imagenet_weights_need_vgg16_width():
    architecture.check_pretrained_width("imagenet", 64, "fcn8s")
    architecture.check_pretrained_width(None, 16, "fcn8s")
    with pytest.raises(ValueError, match="fcn8s: weights='imagenet' exist only for width 64.*got width 32.*weights=None"):
        architecture.check_pretrained_width("imagenet", 32, "fcn8s")


def test_article_dropout_defaults_and_overrides():
    assert architecture.ARTICLE_DROPOUT == {"encoder_decoder": 0.0, "segnet_small": 0.5}
    assert architecture.article_dropout("encoder_decoder") == 0.0
    assert architecture.article_dropout("segnet_small") == 0.5
    assert architecture.article_dropout("encoder_decoder", 0.5) == 0.5
    assert architecture.article_dropout("segnet_small", 0) == 0.0
    assert isinstance(architecture.check_dropout(0), float)


@pytest.mark.parametrize("dropout", [1, 1.5, -0.1, float("nan"), float("inf"), True, "0.5", None])
def test_a_dropout_rate_outside_0_1_is_refused(dropout):
    with pytest.raises(ValueError, match=r"--dropout must be a number in \[0, 1\) \(0 turns dropout off\), got "):
        architecture.check_dropout(dropout, "--dropout")
