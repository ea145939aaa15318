"""Copy the weights of a PyTorch model into its Keras twin, so the two give the same logits.

Every weighted PyTorch module (``Conv2d``, ``ConvTranspose2d``, ``BatchNorm2d``, ``Linear``) is matched to
the Keras layer of the same name: the module path with dots replaced by underscores
(``decoder.0.conv1.bn`` -> ``decoder_0_conv1_bn``), unless an enclosing module declares another name in its
``keras_layer_names`` dict (the backbones map torchvision's ``features.0`` to keras.applications'
``block1_conv1``). Layouts differ and are converted:

* convolution weight (out, in, kH, kW) -> Keras kernel (kH, kW, in, out);
* transposed convolution weight (in, out, kH, kW) -> Keras kernel (kH, kW, out, in);
* batch norm weight, bias, running mean, running var -> gamma, beta, moving_mean, moving_variance
  (the epsilons must agree: segdemo's Keras models use PyTorch's 1e-5);
* linear weight (out, in) -> Dense kernel (in, out).

Importing this module imports neither framework; :func:`torch_to_keras` needs both.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _keras_name(model: Any, path: str) -> str:
    """Keras layer name of the torch module at ``path``, using the deepest ``keras_layer_names`` table."""
    parts = path.split(".")
    name = path.replace(".", "_")
    module = model
    # Walk down the path; a table on a module at depth d renames the remaining path below it.
    for depth in range(len(parts)):
        table = getattr(module, "keras_layer_names", None)
        relative = ".".join(parts[depth:])
        if isinstance(table, dict) and relative in table:
            name = table[relative]
        module = getattr(module, parts[depth])
    return name


def _keras_weights(module: Any, layer_name: str, keras_layer: Any) -> list[np.ndarray]:
    """The torch module's tensors in the Keras layer's layout and order."""
    import torch

    def array(tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    if isinstance(module, torch.nn.BatchNorm2d):
        keras_epsilon = getattr(keras_layer, "epsilon", None)
        if keras_epsilon is None or not np.isclose(keras_epsilon, module.eps, rtol=1e-6, atol=0):
            raise ValueError(
                f"Layer {layer_name!r}: Keras epsilon {keras_epsilon} differs from PyTorch's eps {module.eps}; "
                "build the Keras BatchNormalization with epsilon=1e-5 (segdemo.tensorflow.backbones.batch_norm)."
            )
        return [array(module.weight), array(module.bias), array(module.running_mean), array(module.running_var)]
    if isinstance(module, torch.nn.ConvTranspose2d):
        weights = [array(module.weight).transpose(2, 3, 1, 0)]
    elif isinstance(module, torch.nn.Conv2d):
        weights = [array(module.weight).transpose(2, 3, 1, 0)]
    elif isinstance(module, torch.nn.Linear):
        weights = [array(module.weight).T]
    else:
        raise ValueError(f"Layer {layer_name!r}: cannot port a {type(module).__name__} (no conversion rule).")
    if module.bias is not None:
        weights.append(array(module.bias))
    return weights


def torch_to_keras(torch_model: Any, keras_model: Any) -> list[str]:
    """Copy every weight of ``torch_model`` into the matching layers of ``keras_model`` (in place).

    Args:
        torch_model: a ``torch.nn.Module`` (e.g. ``segdemo.torch.segnet_small(5, width=8)``).
        keras_model: the Keras twin (e.g. ``segdemo.tensorflow.segnet_small(5, width=8)``), same arguments.

    Returns:
        The Keras layer names that received weights, in PyTorch's module order.

    Raises:
        ValueError: naming the first layer that has no counterpart, a different number of weights or
            different shapes, and naming any Keras layer with weights that received none.

    Example:
        >>> torch_to_keras(torch_model.eval(), keras_model)  # doctest: +SKIP
        >>> np.abs(torch_logits.permute(0, 2, 3, 1).numpy() - keras_model(images_nhwc)).max() < 1e-4
    """
    import torch

    keras_layers = {layer.name: layer for layer in _all_layers(keras_model)}
    ported = []
    weighted = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.BatchNorm2d, torch.nn.Linear)
    for path, module in torch_model.named_modules():
        has_tensors = any(True for _ in module.parameters(recurse=False))
        if not isinstance(module, weighted):
            if has_tensors:
                raise ValueError(f"Module {path!r}: cannot port a {type(module).__name__} (no conversion rule).")
            continue
        name = _keras_name(torch_model, path)
        if name not in keras_layers:
            raise ValueError(
                f"PyTorch module {path!r} ({type(module).__name__}) has no Keras layer named {name!r}; "
                "build the Keras model with the same builder and arguments."
            )
        layer = keras_layers[name]
        weights = _keras_weights(module, name, layer)
        expected = [tuple(weight.shape) for weight in layer.weights]
        if [weight.shape for weight in weights] != expected:
            raise ValueError(
                f"Layer {name!r} (PyTorch {path!r}): PyTorch weights converted to shapes "
                f"{[weight.shape for weight in weights]} but the Keras layer has {expected}."
            )
        layer.set_weights(weights)
        ported.append(name)
    missing = [name for name, layer in keras_layers.items() if layer.weights and name not in ported]
    if missing:
        raise ValueError(f"Keras layers {missing[:5]} received no weights: the PyTorch model has no such modules.")
    return ported


def _all_layers(keras_model: Any) -> list[Any]:
    """Layers of a functional model, descending into nested models."""
    layers = []
    for layer in keras_model.layers:
        if hasattr(layer, "layers") and layer.weights and type(layer).__name__ in ("Functional", "Model", "Sequential"):
            layers.extend(_all_layers(layer))
        else:
            layers.append(layer)
    return layers
