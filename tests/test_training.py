"""Tests of segdemo.training: the framework-free helpers both training loops share."""

import json
import math
import sys

import numpy as np
import pytest

from segdemo import training


def _data(num_images=3, size=(8, 8), num_classes=3):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (num_images, *size, 3), dtype=np.uint8)
    masks = rng.integers(0, num_classes, (num_images, *size), dtype=np.uint8)
    return images, masks


def test_training_module_imports_no_framework():
    assert "torch" not in training.__dict__ and "tensorflow" not in training.__dict__


def test_check_data_accepts_valid_data_with_ignored_pixels():
    images, masks = _data()
    masks[0, 0, 0] = 255
    training.check_data(images, masks, num_classes=3, min_size=8)  # does not raise
    assert masks.max() == 255


def test_check_data_rejects_label_outside_classes_naming_it():
    images, masks = _data()
    masks[1, 2, 3] = 7
    with pytest.raises(ValueError, match="mask value 7 .* 0..2"):
        training.check_data(images, masks, num_classes=3)


def test_check_data_rejects_float_images_naming_dtype():
    images, masks = _data()
    with pytest.raises(ValueError, match="float32"):
        training.check_data(images.astype(np.float32), masks, num_classes=3)


def test_check_data_rejects_channels_first_images_naming_shape():
    images, masks = _data()
    with pytest.raises(ValueError, match=r"\(3, 3, 8, 8\)"):
        training.check_data(images.transpose(0, 3, 1, 2), masks, num_classes=3)


def test_check_data_rejects_mismatched_masks_naming_both_shapes():
    images, masks = _data()
    with pytest.raises(ValueError, match=r"\(3, 8, 7\).*\(3, 8, 8, 3\)"):
        training.check_data(images, masks[:, :, :7], num_classes=3)


def test_check_data_rejects_float_masks():
    images, masks = _data()
    with pytest.raises(ValueError, match="dtype float"):
        training.check_data(images, masks.astype(np.float64), num_classes=3)


def test_check_images_rejects_lists_and_empty_batches():
    with pytest.raises(ValueError, match="numpy array"):
        training.check_images([[1, 2, 3]])
    with pytest.raises(ValueError, match="at least one image"):
        training.check_images(np.zeros((0, 8, 8, 3), np.uint8))


def test_image_smaller_than_output_stride_is_refused_naming_size_and_minimum():
    images, masks = _data(size=(16, 40))
    with pytest.raises(ValueError, match="16x40.*at least 32"):
        training.check_data(images, masks, num_classes=3, min_size=32)
    training.check_image_size((32, 33), min_size=32)  # odd sizes at or above the stride are fine


def test_check_optimizer_and_positive():
    assert training.check_optimizer(" Adam ", 1e-3) == "adam"
    with pytest.raises(ValueError, match="'rmsprop'"):
        training.check_optimizer("rmsprop", 1e-3)
    with pytest.raises(ValueError, match="learning_rate"):
        training.check_optimizer("sgd", 0.0)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        training.check_positive(0, "epochs")
    with pytest.raises(ValueError, match="got 1.5"):
        training.check_positive(1.5, "batch_size")


def test_class_weight_array_defaults_to_ones_and_validates():
    assert training.class_weight_array(None, 4).tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="2 values; expected one per class \\(3\\)"):
        training.class_weight_array([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="non-negative"):
        training.class_weight_array([1.0, -1.0, 2.0], 3)


def test_cross_entropy_hand_worked_example():
    # Two pixels, two classes. Pixel 1: logits (0, 0), label 0 -> nll log 2, weight 1.
    # Pixel 2: logits (0, log 3), label 1 -> nll log(4/3), weight 3. Pixel 3 is ignored.
    logits = np.array([[[[0.0, 0.0], [0.0, math.log(3.0)], [5.0, -5.0]]]])
    labels = np.array([[[0, 1, 255]]])
    expected = (1 * math.log(2.0) + 3 * math.log(4.0 / 3.0)) / (1 + 3)
    assert training.cross_entropy(logits, labels, [1.0, 3.0]) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_channel_axis_and_all_ignored():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 4, 5))
    labels = rng.integers(0, 5, (2, 3, 4))
    channels_first = np.moveaxis(logits, -1, 1)
    assert training.cross_entropy(channels_first, labels, channel_axis=1) == pytest.approx(
        training.cross_entropy(logits, labels), rel=1e-12
    )
    assert math.isnan(training.cross_entropy(logits, np.full((2, 3, 4), 255)))


def test_batches_cover_every_image_once_and_shuffle_is_seeded_per_epoch():
    first = list(training.batches(10, 4, shuffle=True, seed=3, epoch=0))
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(np.concatenate(first).tolist()) == list(range(10))
    again = list(training.batches(10, 4, shuffle=True, seed=3, epoch=0))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    orders = {tuple(np.concatenate(list(training.batches(10, 10, shuffle=True, seed=3, epoch=e)))) for e in range(5)}
    assert len(orders) > 1  # epochs see different orders
    assert np.concatenate(list(training.batches(5, 2, shuffle=False))).tolist() == [0, 1, 2, 3, 4]


def test_epoch_seed_is_deterministic_and_varies():
    assert training.epoch_seed(0, 1) == training.epoch_seed(0, 1)
    assert len({training.epoch_seed(0, epoch) for epoch in range(10)}) == 10
    assert all(0 <= training.epoch_seed(s, e) < 2**31 for s in range(3) for e in range(3))


def test_images_to_float_scales_to_unit_interval():
    images = np.array([[[[0, 255, 51]]]], dtype=np.uint8)
    scaled = training.images_to_float(images)
    assert scaled.dtype == np.float32 and scaled.tolist() == [[[[0.0, 1.0, np.float32(0.2)]]]]


def test_history_bookkeeping():
    history = training.new_history()
    assert set(history) == set(training.HISTORY_KEYS) and training.epochs_done(history) == 0
    training.record_epoch(history, {"train_loss": 1.5, "train_global_accuracy": 0.5, "epoch_seconds": 2})
    assert training.epochs_done(history) == 1 and history["train_loss"] == [1.5] and history["val_loss"] == []
    with pytest.raises(ValueError, match="'loss'"):
        training.record_epoch(history, {"loss": 1.0})


def test_check_finite_loss_names_epoch_and_step():
    training.check_finite_loss(0.5, epoch=1, step=1)  # finite: no error
    with pytest.raises(training.TrainingDivergedError, match="epoch 3, step 7"):
        training.check_finite_loss(float("nan"), epoch=3, step=7)
    assert issubclass(training.TrainingDivergedError, FloatingPointError)


def test_show_progress(monkeypatch):
    assert training.show_progress(True) is True and training.show_progress(False) is False

    class NotATerminal:
        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stderr", NotATerminal())
    assert training.show_progress(None) is False


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "value.json"
    training.atomic_write_json(path, {"a": np.float32(1.5), "b": float("nan"), "c": np.arange(3)})
    training.atomic_write_json(path, {"a": 2, "b": [float("inf")], "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 2, "b": [None], "c": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["value.json"]


def test_atomic_write_keeps_old_file_when_serialising_fails(tmp_path):
    path = tmp_path / "value.json"
    training.atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        training.atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}


def test_validators_name_the_argument_and_the_value():
    from segdemo import validation

    assert validation.check_integer(3.0, "epochs", minimum=1) == 3
    for bad in (True, "3", 2.5, None):
        with pytest.raises(ValueError, match=r"epochs must be an integer"):
            validation.check_integer(bad, "epochs", minimum=1)
    with pytest.raises(ValueError, match="--seed must be an integer of at least 0 and at most 4294967295, got 42949"):
        validation.check_seed(2**32, "--seed")
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1e-3"):
        with pytest.raises(ValueError, match="lr must be a finite number above 0"):
            validation.check_positive_number(bad, "lr")
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamw'; choose one of: adam, sgd"):
        validation.check_choice("adamw", "optimizer", ("adam", "sgd"))


def test_writable_folder_check_creates_nothing(tmp_path):
    from segdemo import validation

    assert validation.check_writable_folder(tmp_path / "a" / "b", "--output-dir") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"--output-dir .*file/a cannot be a folder: .*file is a file"):
        validation.check_writable_folder(tmp_path / "file" / "a", "--output-dir")


def test_nothing_to_learn_is_refused_before_training():
    masks = np.full((2, 4, 4), 255, np.uint8)
    with pytest.raises(ValueError, match="every pixel of every mask is 255"):
        training.check_something_to_learn(masks, np.ones(3, np.float32), ignore_index=255, name="train_data")
    masks[0, 0, 0] = 1
    with pytest.raises(ValueError, match=r"every class present in the masks \(\[1\]\) has class weight 0"):
        training.check_something_to_learn(masks, np.array([1, 0, 1], np.float32), ignore_index=255, name="t")
    training.check_something_to_learn(masks, np.array([0, 1, 0], np.float32), ignore_index=255, name="t")


def test_resume_settings_only_epochs_may_change():
    stored = {"optimizer": "adam", "learning_rate": 1e-3, "seed": 0, "batch_size": 8, "num_classes": 11}
    training.check_resume_settings(stored, {**stored, "epochs": 30}, path="ckpt")
    training.check_resume_settings({"batch_size": 8}, {**stored, "optimizer": "sgd"}, path="ckpt")  # older file
    with pytest.raises(training.CheckpointError, match=r"ckpt: .*learning_rate=0.001.*learning_rate=0.01"):
        training.check_resume_settings(stored, {**stored, "learning_rate": 1e-2}, path="ckpt")
    assert issubclass(training.CheckpointError, ValueError)


def test_epoch_line():
    line = training.epoch_line(3, 10, {"epoch_seconds": 41.23, "train_loss": 0.81234, "val_mean_iou": 0.441})
    assert line == "epoch 3/10  41.2 s  loss 0.8123  val mIoU 0.4410"


def test_cosine_learning_rate_decays_from_the_base_rate_towards_zero():
    rates = [training.learning_rate_at(0.01, epoch, 4, "cosine") for epoch in range(4)]
    assert rates[0] == 0.01 and rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx(0.005) and 0 < rates[-1] < 0.002
    assert [training.learning_rate_at(0.01, epoch, 4) for epoch in range(4)] == [0.01] * 4
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'poly'"):
        training.learning_rate_at(0.01, 0, 4, "poly")


def test_schedule_settings_record_what_a_resume_must_keep():
    assert training.schedule_settings((), "constant", 5) == {"augment": "none", "schedule": "constant",
                                                             "precision": "float32"}
    assert training.schedule_settings(("flip",), "cosine", 5, "bfloat16") == {
        "augment": "flip", "schedule": "cosine", "schedule_epochs": 5, "precision": "bfloat16"}
    assert training.check_precision(" BFloat16 ") == "bfloat16"
    with pytest.raises(training.CheckpointError, match="precision='float32', this run asks for precision='bfloat16'"):
        training.check_resume_settings({"precision": "float32"}, {"precision": "bfloat16"}, path="x")
    with pytest.raises(training.CheckpointError, match="cosine learning-rate schedule was laid out over 5"):
        training.check_resume_settings({"schedule": "cosine", "schedule_epochs": 5},
                                       {"schedule": "cosine", "schedule_epochs": 6}, path="x")
