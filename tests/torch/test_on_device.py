"""The on-device training engine of the full profile, run on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdemo import metrics, training
from segdemo.data import synthetic_shapes
from segdemo.torch import build_model
from segdemo.torch import on_device


def _labels(shape, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=shape).astype(np.uint8)
    labels[rng.random(shape) < 0.1] = 255
    return labels


def test_confusion_matrix_matches_numpy():
    labels = _labels((3, 17, 23), 5)
    predictions = np.random.default_rng(1).integers(0, 5, size=labels.shape).astype(np.uint8)
    expected = metrics.confusion_matrix(labels, predictions, 5)
    got = on_device.confusion_matrix(torch.from_numpy(labels), torch.from_numpy(predictions), 5)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_no_augmentation_is_the_identity():
    images = torch.rand(2, 3, 20, 28)
    masks = torch.from_numpy(_labels((2, 20, 28), 4))
    out_images, out_labels = on_device.augment(images, masks, on_device.NO_AUGMENTATION,
                                               torch.Generator().manual_seed(0))
    torch.testing.assert_close(out_images, images, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_labels, masks.long(), atol=0, rtol=0)
    assert out_images.is_contiguous(memory_format=torch.channels_last)


def test_flip_mirrors_images_and_labels_together():
    images = torch.rand(1, 3, 8, 10)
    masks = torch.from_numpy(_labels((1, 8, 10), 4))
    flip_only = on_device.Augmentation(zoom=(1.0, 1.0), flip=True, brightness=0.0)
    generator = torch.Generator().manual_seed(0)
    seen_flip = False
    for _ in range(8):
        out_images, out_labels = on_device.augment(images, masks, flip_only, generator)
        if torch.equal(out_labels, masks.long().flip(-1)):
            seen_flip = True
            torch.testing.assert_close(out_images, images.flip(-1), atol=1e-5, rtol=0)
        else:
            torch.testing.assert_close(out_labels, masks.long(), atol=0, rtol=0)
    assert seen_flip


def test_zoom_out_marks_the_new_border_ignored_and_keeps_class_ids():
    images = torch.rand(4, 3, 30, 40)
    masks = torch.from_numpy(_labels((4, 30, 40), 6))
    zoom_out = on_device.Augmentation(zoom=(0.5, 0.5), flip=False, brightness=0.0)
    out_images, out_labels = on_device.augment(images, masks, zoom_out, torch.Generator().manual_seed(3))
    assert set(out_labels.unique().tolist()) <= set(range(6)) | {255}
    assert (out_labels == 255).float().mean() > 0.5  # three quarters of the area lies outside the picture
    assert out_images.min() >= 0 and out_images.max() <= 1


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [on_device.learning_rate_factor(step, 100) for step in range(100)]
    assert factors[0] == pytest.approx(1 / 3) and factors[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[2:], factors[3:]))
    assert factors[-1] < 0.01


def test_training_learns_synthetic_shapes_on_the_cpu():
    images, masks = synthetic_shapes(24, size=(32, 32), seed=0)
    train = on_device.to_device_data(images, masks, torch.device("cpu"))
    torch.manual_seed(0)
    model = build_model("segnet_small", 5, width=4)
    lines = []
    run = on_device.train_on_device(model, train, train, num_classes=5, epochs=4, batch_size=8,
                                    learning_rate=1e-2, augmentation=on_device.NO_AUGMENTATION,
                                    amp_dtype=None, log=lines.append)
    history = run.history
    assert set(history) == set(training.HISTORY_KEYS) and len(history["train_loss"]) == 4
    assert all(np.isfinite(history["train_loss"])) and history["train_loss"][-1] < history["train_loss"][0]
    assert run.steps == 12 and run.stopped_early is None and len(lines) == 4


def test_budget_shrinks_the_plan():
    images, masks = synthetic_shapes(8, size=(32, 32), seed=0)
    train = on_device.to_device_data(images, masks, torch.device("cpu"))
    model = build_model("segnet_small", 5, width=4)
    run = on_device.train_on_device(model, train, None, num_classes=5, epochs=50, batch_size=4,
                                    learning_rate=1e-3, amp_dtype=None, budget_seconds=0.0, log=lambda _: None)
    # The plan is checked from the second epoch on: the first also pays one-off costs.
    assert len(run.history["train_loss"]) == 2 and run.epochs_planned == 50
    assert "2 fit the time budget" in run.stopped_early


def test_bad_inputs_are_refused():
    images, masks = synthetic_shapes(4, size=(32, 32), seed=0)
    with pytest.raises(ValueError, match="masks have shape"):
        on_device.to_device_data(images, masks[:, :16], torch.device("cpu"))
    bad = masks.copy()
    bad[0, 0, 0] = 9
    data = on_device.to_device_data(images, bad, torch.device("cpu"))
    model = build_model("segnet_small", 5, width=4)
    with pytest.raises(ValueError, match="mask value 9"):
        on_device.train_on_device(model, data, None, num_classes=5, epochs=1, batch_size=2, learning_rate=1e-3)
    with pytest.raises(ValueError, match="batch_size 8 exceeds the 4"):
        on_device.train_on_device(model, data, None, num_classes=5, epochs=1, batch_size=8, learning_rate=1e-3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 7}, "num_classes=7 but PooledEncoderDecoder predicts 5 classes"),
        ({"seed": -1}, "seed"),
        ({"learning_rate": float("inf")}, "learning_rate"),
    ],
)
def test_bad_settings_are_refused_before_training(arguments, message):
    images, masks = synthetic_shapes(4, size=(32, 32), seed=0)
    data = on_device.to_device_data(images, masks, torch.device("cpu"))
    model = build_model("segnet_small", 5, width=4)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    settings = {"num_classes": 5, "epochs": 1, "batch_size": 2, "learning_rate": 1e-3, **arguments}
    with pytest.raises(ValueError, match=message):
        on_device.train_on_device(model, data, None, **settings)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
