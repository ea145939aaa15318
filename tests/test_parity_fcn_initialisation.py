"""Both frameworks initialise an FCN trained from scratch the same way (segdemo.architecture.FCN_INITIALISATION).

The frameworks' defaults differ (PyTorch's Conv2d default has about a sixth of He's variance, Keras uses
Glorot); with them a 15-layer FCN without batch normalisation trained in one framework and stalled in the
other. The weights are random, so this compares their distributions, not their values.
"""

import keras
import pytest
import torch

from segdemo.architecture import SCORE_INIT_STD
from segdemo.tensorflow import models as keras_models
from segdemo.torch import models as torch_models

WIDTH = 16


def he_std(kernel_height: int, kernel_width: int, filters: int) -> float:
    return (2.0 / (kernel_height * kernel_width * filters)) ** 0.5


@pytest.mark.parametrize("name", ["fcn32s", "fcn8s"])
def test_fcn_weights_follow_the_same_distribution_in_both_frameworks(name):
    torch.manual_seed(0)
    torch_model = torch_models.build_model(name, 11, width=WIDTH)
    keras.utils.set_random_seed(0)
    keras_model = keras_models.build_model(name, 11, width=WIDTH)
    torch_layers = {f"backbone.{name}": keras_name for name, keras_name in torch_model.backbone.keras_layer_names.items()}
    checked = 0
    for torch_name, module in torch_model.named_modules():
        keras_name = torch_layers.get(torch_name, torch_name)
        if not isinstance(module, torch.nn.Conv2d) or isinstance(module, torch.nn.ConvTranspose2d):
            continue
        kernel, bias = keras_model.get_layer(keras_name).get_weights()
        weight = module.weight.detach().numpy()
        assert not module.bias.detach().any() and not bias.any()  # biases start at zero
        if keras_name.startswith("score_pool"):
            assert not weight.any() and not kernel.any()  # skips start at zero (the paper)
            continue
        if keras_name == "score_fr":
            expected = SCORE_INIT_STD
        else:
            filters, _, kernel_height, kernel_width = weight.shape
            expected = he_std(kernel_height, kernel_width, filters)
        if weight.size < 10_000:  # too few samples for a 5% check of a standard deviation (7 sigma at 10,000)
            continue
        assert abs(weight.std() / expected - 1) < 0.05, torch_name
        assert abs(kernel.std() / expected - 1) < 0.05, keras_name
        assert abs(weight.mean()) < 0.05 * expected and abs(kernel.mean()) < 0.05 * expected
        checked += 1
    assert checked >= 12  # most VGG16 convolutions, fc6, fc7 and score_fr
