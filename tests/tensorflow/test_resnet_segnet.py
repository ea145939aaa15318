"""ResNet50-SegNet's options in Keras (chapter 7); parity with PyTorch is in tests/test_convert.py."""

import numpy as np
import pytest

from segdemo.tensorflow import resnet50_segnet


def _weight_shapes(model) -> dict[str, list[tuple]]:
    return {layer.name: [tuple(weight.shape) for weight in layer.weights] for layer in model.layers if layer.weights}


def test_indexed_encoder_keeps_the_encoder_weights_names_and_shapes():
    # keras.applications' weights are copied by layer name, so they load into the indexed encoder too.
    plain = _weight_shapes(resnet50_segnet(3))
    indexed = _weight_shapes(resnet50_segnet(3, indices=True))
    encoder = {name for name in plain if name.startswith("conv")}
    assert encoder and {name: indexed[name] for name in encoder} == {name: plain[name] for name in encoder}


@pytest.mark.parametrize(("level", "stride"), [(2, 1), (3, 2), (4, 4)])
def test_half_resolution_output_has_the_score_stride(level, stride):
    model = resnet50_segnet(3, encoder_level=level, full_resolution=False)
    logits = model(np.random.default_rng(0).random((1, 70, 45, 3), dtype=np.float32))
    assert model.score_stride == stride
    assert tuple(logits.shape) == (1, -(-70 // stride), -(-45 // stride), 3)


def test_indices_give_full_resolution_logits():
    model = resnet50_segnet(3, indices=True)
    assert tuple(model(np.zeros((1, 35, 33, 3), np.float32)).shape) == (1, 35, 33, 3)


@pytest.mark.parametrize("level", [1, 5, True])
def test_bad_encoder_level_is_refused(level):
    with pytest.raises(ValueError, match="encoder_level must be one of"):
        resnet50_segnet(3, encoder_level=level)


def test_indices_without_full_resolution_are_refused():
    with pytest.raises(ValueError, match="full_resolution=True"):
        resnet50_segnet(3, indices=True, full_resolution=False)


@pytest.mark.parametrize("options", [{}, {"encoder_level": 4}, {"indices": True}])
def test_every_full_resolution_option_trains_inside_tf_function(options):
    # Keras' bilinear UpSampling2D cannot be traced with an unknown height and width; fit must still run.
    from segdemo.tensorflow.train import fit

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    masks = rng.integers(0, 3, (2, 32, 32), dtype=np.uint8)
    history = fit(resnet50_segnet(3, **options), (images, masks), None, num_classes=3, epochs=1, batch_size=2,
                  progress=False)
    assert np.isfinite(history["train_loss"][0])


def test_fit_refuses_the_half_resolution_output_with_a_clear_error():
    from segdemo.tensorflow.train import fit

    images = np.zeros((2, 32, 32, 3), np.uint8)
    masks = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(ValueError, match=r"16x16 logits for 32x32 images.*full_resolution=True"):
        fit(resnet50_segnet(3, full_resolution=False), (images, masks), None, num_classes=3, epochs=1,
            batch_size=2, progress=False)


def test_bilinear_logit_upsampling_matches_torch_interpolate_on_odd_sizes():
    import torch

    from segdemo.tensorflow.resnet_segnet import UpsampleBilinear

    scores = np.random.default_rng(1).standard_normal((1, 5, 7, 3)).astype(np.float32)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(scores).permute(0, 3, 1, 2), scale_factor=4, mode="bilinear", align_corners=False
    ).permute(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(UpsampleBilinear(4)(scores)), expected.numpy(), atol=1e-5)
