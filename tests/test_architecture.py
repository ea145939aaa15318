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
