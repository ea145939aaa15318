"""Tests of segdemo.tensorflow.train: loss parity with PyTorch, fit, checkpoints and resume, evaluate, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from segdemo import training
from segdemo.tensorflow import train


def tiny_net(num_classes=3, output_stride=1):
    """Two convolutions at full resolution, any input size."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(num_classes, 1)(features))
    model.output_stride = output_stride
    return model


def colour_data(num_images=10, size=(12, 12), seed=0):
    """Masks follow the red channel (dark / mid / bright), so a 1x1 convolution can learn them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_images, *size, 3), dtype=np.uint8)
    masks = (images[..., 0] // 86).astype(np.uint8)
    masks[:, 0, :] = 255
    return images, masks


def test_loss_matches_pytorch_cross_entropy_on_identical_logits():
    import torch

    from segdemo.torch import train as torch_train

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 6, 4)).astype(np.float32) * 3
    labels = rng.integers(0, 4, (2, 5, 6))
    labels[1, 2:] = 255
    weights = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    numerator, denominator = train.cross_entropy(tf.constant(logits), tf.constant(labels), tf.constant(weights))
    tensorflow_loss = float(numerator / denominator)
    torch_loss = float(
        torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weights), ignore_index=255)(
            torch.from_numpy(logits).permute(0, 3, 1, 2), torch.from_numpy(labels)
        )
    )
    torch_numerator, torch_denominator = torch_train.cross_entropy(
        torch.from_numpy(logits).permute(0, 3, 1, 2), torch.from_numpy(labels), torch.from_numpy(weights)
    )
    assert tensorflow_loss == pytest.approx(torch_loss, rel=1e-6)
    assert float(torch_numerator / torch_denominator) == pytest.approx(torch_loss, rel=1e-6)
    assert tensorflow_loss == pytest.approx(training.cross_entropy(logits, labels, weights), rel=1e-6)


def test_fit_returns_full_history_and_learns():
    data = colour_data()
    history = train.fit(tiny_net(), data, data, num_classes=3, epochs=4, batch_size=4, learning_rate=0.02,
                        progress=False)
    assert set(history) == set(training.HISTORY_KEYS)
    assert all(len(values) == 4 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert all(0 <= v <= 1 for key in ("val_global_accuracy", "val_mean_iou") for v in history[key])


def test_fit_twice_gives_the_same_history():
    data = colour_data()
    first = train.fit(tiny_net(), data, data, num_classes=3, epochs=2, batch_size=4, progress=False)
    second = train.fit(tiny_net(), data, data, num_classes=3, epochs=2, batch_size=4, progress=False)
    first.pop("epoch_seconds"), second.pop("epoch_seconds")
    assert first == second


def test_sgd_applies_l2_weight_decay_like_torch():
    # One SGD step on a model with a zero gradient moves the weights by -lr * weight_decay * w only.
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, kernel_initializer="ones", bias_initializer="zeros")(inputs))
    images = np.zeros((1, 4, 4, 3), np.uint8)  # zero input: no gradient through the kernel
    masks = np.full((1, 4, 4), 255, np.uint8)
    masks[0, 0, 0] = 0
    before = model.layers[-1].kernel.numpy().copy()
    train.fit(model, (images, masks), None, num_classes=2, epochs=1, batch_size=1, optimizer="sgd",
              learning_rate=0.1, progress=False)
    expected = before * (1 - 0.1 * training.SGD_WEIGHT_DECAY)
    np.testing.assert_allclose(model.layers[-1].kernel.numpy(), expected, rtol=1e-6)


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    data = colour_data()
    settings = dict(num_classes=3, batch_size=4, class_weights=[1.0, 2.0, 0.5], progress=False)
    uninterrupted = train.fit(tiny_net(), data, data, epochs=3, **settings)
    train.fit(tiny_net(), data, data, epochs=2, checkpoint_dir=tmp_path, **settings)
    assert train.load_checkpoint(tmp_path, tiny_net())["epochs_done"] == 2
    resumed = train.fit(tiny_net(), data, data, epochs=3, checkpoint_dir=tmp_path, resume=True, **settings)
    for key in ("train_loss", "train_mean_iou", "val_loss", "val_mean_iou"):
        assert resumed[key] == pytest.approx(uninterrupted[key], rel=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [train.CHECKPOINT_NAME]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    data = colour_data(num_images=4)
    train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=4, checkpoint_dir=tmp_path, progress=False)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    with pytest.raises(ValueError, match="model variables"):
        train.load_checkpoint(tmp_path, other)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=4, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train.load_checkpoint(tmp_path / "nowhere", tiny_net())


def test_nan_loss_stops_with_epoch_and_step():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(3, 1)(inputs)
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * float("nan"))(logits))
    with pytest.raises(training.TrainingDivergedError, match="epoch 1, step 1"):
        train.fit(model, colour_data(num_images=4), None, num_classes=3, epochs=2, batch_size=2, progress=False)


def test_images_smaller_than_output_stride_and_bad_labels_are_refused():
    images, masks = colour_data(num_images=2, size=(8, 12))
    model = tiny_net(output_stride=16)
    for call in (
        lambda: train.fit(model, (images, masks), None, num_classes=3, epochs=1, batch_size=2, progress=False),
        lambda: train.evaluate(model, (images, masks), num_classes=3),
        lambda: train.predict(model, images),
    ):
        with pytest.raises(ValueError, match="8x12.*at least 16"):
            call()
    masks[0, 1, 1] = 4
    with pytest.raises(ValueError, match="mask value 4"):
        train.evaluate(tiny_net(), (images, masks), num_classes=3)
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 12\).*\(2, 8, 12\)"):
        train.evaluate(tiny_net(), (images.transpose(0, 3, 1, 2), masks), num_classes=3)


def test_evaluate_and_predict_of_a_perfect_model():
    # Fixed 1x1 convolution: logits (-(r - 0.5), r - 0.5) * 100, so class 1 exactly where red > 0.5.
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(2, 1)(inputs)
    model = keras.Model(inputs, outputs)
    model.output_stride = 1
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 0] = [-100.0, 100.0]
    model.layers[-1].set_weights([kernel, np.array([50.0, -50.0], np.float32)])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 9, 11, 3), dtype=np.uint8)
    masks = (images[..., 0] > 127).astype(np.uint8)
    masks[:, :, 0] = 255
    result = train.evaluate(model, (images, masks), num_classes=2, batch_size=2)
    assert result["global_accuracy"] == 1.0 and result["mean_iou"] == 1.0 and result["boundary_f1"] == 1.0
    assert result["confusion_matrix"].sum() == int((masks != 255).sum()) and math.isfinite(result["loss"])
    np.testing.assert_array_equal(train.predict(model, images, batch_size=3), (images[..., 0] > 127).astype(np.uint8))


def test_num_classes_must_match_the_models_output_channels():
    images, masks = colour_data(num_images=4)
    with pytest.raises(ValueError, match=r"num_classes=5 but the model predicts 3 classes"):
        train.fit(tiny_net(), (images, masks), None, num_classes=5, epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match=r"num_classes=4 but the model predicts 3"):
        train.evaluate(tiny_net(), (images, masks), num_classes=4)


def _trained_checkpoint(tmp_path):
    data = colour_data(num_images=4)
    train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=2, checkpoint_dir=tmp_path, progress=False)
    return data, tmp_path / train.CHECKPOINT_NAME


def test_resume_with_another_optimizer_or_learning_rate_is_refused(tmp_path):
    data, checkpoint = _trained_checkpoint(tmp_path)
    before = checkpoint.read_bytes()
    for change, stored in (({"optimizer": "sgd"}, "optimizer='adam'"), ({"learning_rate": 0.1}, "learning_rate")):
        with pytest.raises(training.CheckpointError, match=rf"{stored}.*only change epochs"):
            train.fit(tiny_net(), data, None, num_classes=3, epochs=2, batch_size=2, checkpoint_dir=tmp_path,
                      resume=True, progress=False, **change)
    assert checkpoint.read_bytes() == before


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_damaged_checkpoint_names_the_file_and_the_fix(tmp_path, damage):
    _, checkpoint = _trained_checkpoint(tmp_path)
    content = checkpoint.read_bytes()
    checkpoint.write_bytes(b"" if damage == "empty" else content[: len(content) // 2])
    with pytest.raises(training.CheckpointError, match=rf"{checkpoint.name}.*(empty|truncated).*train again"):
        train.load_checkpoint(tmp_path, tiny_net())


def test_checkpoint_of_another_width_is_refused_before_any_variable_changes(tmp_path):
    _trained_checkpoint(tmp_path)
    model = tiny_net(num_classes=5)
    before = [v.numpy().copy() for v in model.variables]
    with pytest.raises(training.CheckpointError, match="another model"):
        train.load_checkpoint(tmp_path, model)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))


class _Interrupted(Exception):
    pass


def _interrupt_after(epochs_done):
    def on_epoch(epoch, epochs, values):
        if epoch == epochs_done:
            raise _Interrupted

    return on_epoch


def test_augmented_cosine_run_killed_and_resumed_matches_an_uninterrupted_one(tmp_path):
    data = colour_data()
    settings = dict(num_classes=3, epochs=3, batch_size=4, progress=False, augment="flip,scale,color",
                    schedule="cosine")
    uninterrupted = train.fit(tiny_net(), data, data, **settings)
    with pytest.raises(_Interrupted):
        train.fit(tiny_net(), data, data, checkpoint_dir=tmp_path, on_epoch=_interrupt_after(2), **settings)
    resumed = train.fit(tiny_net(), data, data, checkpoint_dir=tmp_path, resume=True, **settings)
    for key in ("train_loss", "train_mean_iou", "val_loss", "val_mean_iou"):
        assert resumed[key] == pytest.approx(uninterrupted[key], rel=1e-6)
    stored = train.load_checkpoint(tmp_path, tiny_net())["settings"]
    assert stored["augment"] == "flip+scale+color" and stored["schedule_epochs"] == 3


def test_cosine_schedule_changes_the_second_epoch_only():
    data = colour_data()
    settings = dict(num_classes=3, epochs=2, batch_size=4, progress=False)
    constant = train.fit(tiny_net(), data, None, **settings)
    cosine = train.fit(tiny_net(), data, None, schedule="cosine", **settings)
    assert cosine["train_loss"][0] == pytest.approx(constant["train_loss"][0], rel=1e-6)
    assert cosine["train_loss"][1] != pytest.approx(constant["train_loss"][1], rel=1e-6)


def test_a_model_built_under_mixed_bfloat16_trains_in_bfloat16_and_is_recorded(tmp_path):
    data = colour_data()
    settings = dict(num_classes=3, epochs=2, batch_size=4, progress=False)
    float32 = train.fit(tiny_net(), data, data, **settings)
    with train.dtype_policy("mixed_bfloat16"):
        model = tiny_net()
    assert keras.config.dtype_policy().name == "float32"  # restored after the block
    assert train.model_precision(model) == "bfloat16"
    bfloat16 = train.fit(model, data, data, checkpoint_dir=tmp_path, precision="bfloat16", **settings)
    assert bfloat16["train_loss"] != float32["train_loss"]
    assert bfloat16["train_loss"] == pytest.approx(float32["train_loss"], rel=5e-2)
    assert train.load_checkpoint(tmp_path, tiny_net())["settings"]["precision"] == "bfloat16"
