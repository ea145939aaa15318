"""Tests of segdemo.torch.train: loss definition, fit, checkpoints and resume, evaluate, predict, errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from segdemo import training
from segdemo.torch import train


class TinyNet(nn.Module):
    """Two convolutions at full resolution: the smallest model with something to learn."""

    def __init__(self, num_classes=3, output_stride=1):
        super().__init__()
        self.output_stride = output_stride
        self.layers = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, num_classes, 1))

    def forward(self, images):
        return self.layers(images)


def tiny_net(**kwargs):
    torch.manual_seed(0)
    return TinyNet(**kwargs)


def colour_data(num_images=10, size=(12, 12), seed=0):
    """Masks follow the red channel (dark / mid / bright), so a 1x1 convolution can learn them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_images, *size, 3), dtype=np.uint8)
    masks = (images[..., 0] // 86).astype(np.uint8)
    masks[:, 0, :] = 255  # a row of ignored pixels
    return images, masks


def test_loss_is_pytorch_cross_entropy_with_weights_and_ignore_index():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    labels = torch.randint(0, 4, (2, 5, 6))
    labels[0, :2] = 255
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0])
    numerator, denominator = train.cross_entropy(logits, labels, weights, 255)
    expected = nn.CrossEntropyLoss(weight=weights, ignore_index=255)(logits, labels)
    assert float(numerator / denominator) == pytest.approx(float(expected), rel=1e-6)
    reference = training.cross_entropy(logits.numpy(), labels.numpy(), weights.numpy(), 255, channel_axis=1)
    assert float(numerator / denominator) == pytest.approx(reference, rel=1e-6)


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


def test_sgd_without_validation():
    data = colour_data()
    history = train.fit(tiny_net(), data, None, num_classes=3, epochs=2, batch_size=5, optimizer="sgd",
                        learning_rate=0.1, progress=False)
    assert history["val_loss"] == [] and all(math.isfinite(v) for v in history["train_loss"])


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    data = colour_data()
    settings = dict(num_classes=3, batch_size=4, class_weights=[1.0, 2.0, 0.5], progress=False)
    uninterrupted = train.fit(tiny_net(), data, data, epochs=3, **settings)
    train.fit(tiny_net(), data, data, epochs=2, checkpoint_dir=tmp_path, **settings)
    assert train.load_checkpoint(tmp_path, tiny_net())["epochs_done"] == 2
    # A fresh model (as after a crash): everything comes back from the checkpoint.
    resumed = train.fit(tiny_net(), data, data, epochs=3, checkpoint_dir=tmp_path, resume=True, **settings)
    for key in ("train_loss", "train_mean_iou", "val_loss", "val_mean_iou"):
        assert resumed[key] == uninterrupted[key]
    assert [p.name for p in tmp_path.iterdir()] == [train.CHECKPOINT_NAME]


def test_resume_without_checkpoint_starts_fresh_and_resume_needs_a_folder(tmp_path):
    data = colour_data(num_images=4)
    history = train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=4, checkpoint_dir=tmp_path,
                        resume=True, progress=False)
    assert len(history["train_loss"]) == 1
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=4, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train.load_checkpoint(tmp_path / "nowhere", tiny_net())


class NaNNet(TinyNet):
    def forward(self, images):
        return super().forward(images) * float("nan")


def test_nan_loss_stops_with_epoch_and_step():
    data = colour_data(num_images=4)
    torch.manual_seed(0)
    with pytest.raises(training.TrainingDivergedError, match="epoch 1, step 1"):
        train.fit(NaNNet(), data, None, num_classes=3, epochs=2, batch_size=2, progress=False)


def test_images_smaller_than_output_stride_are_refused():
    data = colour_data(num_images=2, size=(8, 12))
    model = tiny_net(output_stride=16)
    with pytest.raises(ValueError, match="8x12.*at least 16"):
        train.fit(model, data, None, num_classes=3, epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="8x12.*at least 16"):
        train.evaluate(model, data, num_classes=3)
    with pytest.raises(ValueError, match="8x12.*at least 16"):
        train.predict(model, data[0])


def test_bad_labels_and_shapes_are_refused():
    images, masks = colour_data(num_images=2)
    masks[1, 3, 3] = 9
    with pytest.raises(ValueError, match="mask value 9"):
        train.fit(tiny_net(), (images, masks), None, num_classes=3, epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match=r"\(2, 3, 12, 12\).*\(2, 12, 12\)"):
        train.evaluate(tiny_net(), (images.transpose(0, 3, 1, 2), masks), num_classes=3)
    with pytest.raises(ValueError, match="tuple"):
        train.fit(tiny_net(), images, None, num_classes=3, epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="'adagrad'"):
        train.fit(tiny_net(), (images, masks % 3), None, num_classes=3, epochs=1, batch_size=2,
                  optimizer="adagrad", progress=False)


class RedThreshold(nn.Module):
    """Fixed model: class 1 where red > 0.5, else class 0 (a hand-made perfect predictor)."""

    output_stride = 1

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(100.0))

    def forward(self, images):
        red = images[:, :1] - 0.5
        return torch.cat([-red, red], dim=1) * self.scale


def test_evaluate_and_predict_of_a_perfect_model():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 9, 11, 3), dtype=np.uint8)
    masks = (images[..., 0] > 127).astype(np.uint8)
    masks[:, :, 0] = 255
    result = train.evaluate(RedThreshold(), (images, masks), num_classes=2, batch_size=2)
    assert result["global_accuracy"] == 1.0 and result["mean_iou"] == 1.0 and result["boundary_f1"] == 1.0
    assert result["confusion_matrix"].sum() == int((masks != 255).sum())
    expected = (images[..., 0] > 127).astype(np.uint8)
    np.testing.assert_array_equal(train.predict(RedThreshold(), images, batch_size=3), expected)


def test_num_classes_must_match_the_models_output_channels():
    data = colour_data(num_images=4)
    with pytest.raises(ValueError, match=r"num_classes=5 but the model predicts 3 classes"):
        train.fit(tiny_net(), (data[0], data[1] % 3), None, num_classes=5, epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match=r"num_classes=4 but the model predicts 3"):
        train.evaluate(tiny_net(), data, num_classes=4)


def _trained_checkpoint(tmp_path, **kwargs):
    data = colour_data(num_images=4)
    train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=2, checkpoint_dir=tmp_path,
              progress=False, **kwargs)
    return data, tmp_path / train.CHECKPOINT_NAME


@pytest.mark.parametrize(("change", "stored"), [({"optimizer": "sgd"}, "optimizer='adam'"),
                                                ({"learning_rate": 0.5}, "learning_rate=0.001"),
                                                ({"batch_size": 4}, "batch_size=2"), ({"seed": 3}, "seed=0")])
def test_resume_refuses_changed_settings_before_restoring_anything(tmp_path, change, stored):
    data, checkpoint = _trained_checkpoint(tmp_path)
    before = checkpoint.read_bytes()
    arguments = {"num_classes": 3, "epochs": 2, "batch_size": 2, "checkpoint_dir": tmp_path, "resume": True,
                 "progress": False, **change}
    with pytest.raises(training.CheckpointError, match=rf"{stored}.*only change epochs.*--overwrite"):
        train.fit(tiny_net(), data, None, **arguments)
    assert checkpoint.read_bytes() == before


def test_resume_may_extend_epochs_but_not_shorten_them(tmp_path):
    data, checkpoint = _trained_checkpoint(tmp_path)
    history = train.fit(tiny_net(), data, None, num_classes=3, epochs=2, batch_size=2, checkpoint_dir=tmp_path,
                        resume=True, progress=False)
    assert len(history["train_loss"]) == 2
    with pytest.raises(training.CheckpointError, match="already done 2"):
        train.fit(tiny_net(), data, None, num_classes=3, epochs=1, batch_size=2, checkpoint_dir=tmp_path,
                  resume=True, progress=False)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_checkpoint_names_the_file_and_the_fix(tmp_path, damage):
    _, checkpoint = _trained_checkpoint(tmp_path)
    content = checkpoint.read_bytes()
    checkpoint.write_bytes({"empty": b"", "truncated": content[: len(content) // 2], "garbage": b"x" * 100}[damage])
    with pytest.raises(training.CheckpointError, match=rf"{checkpoint.name}.*(empty|truncated).*train again"):
        train.load_checkpoint(tmp_path, tiny_net())


def test_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path):
    _trained_checkpoint(tmp_path)
    with pytest.raises(training.CheckpointError, match="another model"):
        train.load_checkpoint(tmp_path, tiny_net(num_classes=5))


def test_on_epoch_reports_every_epoch():
    data = colour_data(num_images=4)
    seen = []
    train.fit(tiny_net(), data, data, num_classes=3, epochs=2, batch_size=2, progress=False,
              on_epoch=lambda epoch, epochs, values: seen.append((epoch, epochs, sorted(values))))
    assert [(epoch, epochs) for epoch, epochs, _ in seen] == [(1, 2), (2, 2)]
    assert "val_mean_iou" in seen[0][2]


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
        assert resumed[key] == uninterrupted[key]
    stored = train.load_checkpoint(tmp_path, tiny_net())["settings"]
    assert stored["augment"] == "flip+scale+color" and stored["schedule_epochs"] == 3


def test_schedule_and_augmentation_change_training_but_not_its_first_epoch_rate():
    data = colour_data()
    settings = dict(num_classes=3, batch_size=4, progress=False)
    constant = train.fit(tiny_net(), data, None, epochs=1, **settings)
    # The cosine rate of the first epoch is the base rate: one epoch is the same run.
    assert train.fit(tiny_net(), data, None, epochs=1, schedule="cosine", **settings)["train_loss"] == \
        constant["train_loss"]
    two_constant = train.fit(tiny_net(), data, None, epochs=2, **settings)
    two_cosine = train.fit(tiny_net(), data, None, epochs=2, schedule="cosine", **settings)
    assert two_cosine["train_loss"][0] == two_constant["train_loss"][0]
    assert two_cosine["train_loss"][1] != two_constant["train_loss"][1]
    augmented = train.fit(tiny_net(), data, None, epochs=1, augment="flip", **settings)
    assert augmented["train_loss"] != constant["train_loss"]


def test_bfloat16_training_follows_float32_closely_and_is_recorded(tmp_path):
    data = colour_data()
    settings = dict(num_classes=3, epochs=2, batch_size=4, progress=False)
    float32 = train.fit(tiny_net(), data, data, **settings)
    bfloat16 = train.fit(tiny_net(), data, data, checkpoint_dir=tmp_path, precision="bfloat16", **settings)
    # bfloat16 keeps 8 bits of mantissa: the same run, to about 1e-2 relative, not bit for bit.
    assert bfloat16["train_loss"] != float32["train_loss"]
    assert bfloat16["train_loss"] == pytest.approx(float32["train_loss"], rel=5e-2)
    assert train.load_checkpoint(tmp_path, tiny_net())["settings"]["precision"] == "bfloat16"
