"""The catalogue of bad inputs and faults (CONTRIBUTING.md, "Bad inputs and what the user sees"), one test per row.

Each case does what a user might do wrong and checks what they see: the error type and the words that name the
problem and the fix. ``test_catalogue_and_tests_match`` keeps this file and the table in CONTRIBUTING.md in step.
"""

import re
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from segdemo import experiment, metrics, training, upsampling
from segdemo.__main__ import main
from segdemo.data import DownloadError, load_dataset
from segdemo.data import download as download_module

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"
SECTION = "## Bad inputs and what the user sees"

TINY = ["--model", "segnet_small", "--framework", "pytorch", "--profile", "quick", "--width", "8",
        "--image-size", "32x32", "--max-train-images", "4", "--max-val-images", "2", "--batch-size", "2",
        "--epochs", "1", "--no-progress", "--name", "tiny"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One finished tiny run, shared by the rows that need a run folder (none of them may change it)."""
    root = tmp_path_factory.mktemp("trained")
    command = ["train", *TINY, "--output-dir", str(root / "results"), "--checkpoint-dir", str(root / "runs")]
    assert main(command) == 0
    return command, root / "runs" / "synthetic" / "tiny"


def _tiny_torch_net(num_classes=3):
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, num_classes, 1))


def _data(num_images=4, size=(8, 8)):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (num_images, *size, 3), dtype=np.uint8)
    return images, (images[..., 0] // 86).astype(np.uint8)


def _fit(**overrides):
    from segdemo.torch import train

    arguments = {"model": _tiny_torch_net(), "train_data": _data(), "val_data": None, "num_classes": 3,
                 "epochs": 1, "batch_size": 2, "progress": False, **overrides}
    return train.fit(arguments.pop("model"), arguments.pop("train_data"), arguments.pop("val_data"), **arguments)


def _checkpoint(tmp_path):
    from segdemo.torch import train

    _fit(checkpoint_dir=tmp_path)
    return tmp_path / train.CHECKPOINT_NAME


def _camvid(tmp_path, splits=("train", "val")):
    from tests.test_data_camvid import write_camvid

    for split in splits:
        write_camvid(tmp_path / "camvid", split, count=2)
    return tmp_path / "camvid"


def _cli(arguments, capsys, status):
    assert main(arguments) == status
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error
    return error


def _cli_usage(arguments, capsys, flag):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {flag}" in error
    return error


# Data --------------------------------------------------------------------------------------------------------

def data_unknown_dataset(tmp_path, capsys):
    with pytest.raises(ValueError, match="Unknown dataset 'camvidd'; choose one of"):
        load_dataset("camvidd", "train", size=(8, 8))


def data_missing_folder(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*does not exist.*SEGDEMO_CAMVID_DIR"):
        load_dataset("camvid", "train", size=(8, 8), data_dir=tmp_path / "nowhere")


def data_empty_split(tmp_path, capsys):
    root = _camvid(tmp_path)
    (root / "val.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"camvid split 'val' has no images .*val\.txt lists none"):
        load_dataset("camvid", "val", size=(8, 8), data_dir=root)


def data_corrupt_image(tmp_path, capsys):
    root = _camvid(tmp_path)
    (root / "train" / "seq_000.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"Cannot read image .*seq_000\.png.*corrupt"):
        load_dataset("camvid", "train", size=(8, 8), data_dir=root)


def data_label_out_of_range(tmp_path, capsys):
    from PIL import Image

    root = _camvid(tmp_path)
    Image.fromarray(np.full((12, 16), 40, np.uint8), mode="L").save(root / "trainannot" / "seq_001.png")
    with pytest.raises(ValueError, match=r"seq_001\.png holds value 40; CamVid labels are 0\.\.10"):
        load_dataset("camvid", "train", size=(8, 8), data_dir=root)


def data_label_size_mismatch(tmp_path, capsys):
    from PIL import Image

    root = _camvid(tmp_path)
    Image.fromarray(np.zeros((6, 6), np.uint8), mode="L").save(root / "trainannot" / "seq_000.png")
    with pytest.raises(ValueError, match=r"is 12x16 but its label .* is 6x6"):
        load_dataset("camvid", "train", size=(8, 8), data_dir=root)


def data_bad_size(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"size must be \(height, width\), two positive integers; got \(0, 32\)"):
        load_dataset("synthetic", "train", size=(0, 32))


def data_bad_max_images(tmp_path, capsys):
    with pytest.raises(ValueError, match="max_images must be a positive integer or None; got 0"):
        load_dataset("synthetic", "train", size=(8, 8), max_images=0)


def data_unknown_split(tmp_path, capsys):
    with pytest.raises(ValueError, match="Unknown split 'test' for kitti_road"):
        load_dataset("kitti_road", "test", size=(8, 8))


# Layers ------------------------------------------------------------------------------------------------------

def layers_pool_not_nchw(tmp_path, capsys):
    import torch

    from segdemo.torch.pooling import MaxPoolingWithArgmax2D

    with pytest.raises(ValueError, match=r"expects a 4-D NCHW tensor, got \(3, 8, 8\)"):
        MaxPoolingWithArgmax2D()(torch.zeros(3, 8, 8))


def layers_pool_integer_input(tmp_path, capsys):
    import torch

    from segdemo.torch.pooling import MaxPoolingWithArgmax2D

    with pytest.raises(ValueError, match="expects a float tensor, got torch.uint8"):
        MaxPoolingWithArgmax2D()(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def layers_pool_window_too_large(tmp_path, capsys):
    import torch

    from segdemo.torch.pooling import MaxPoolingWithArgmax2D

    with pytest.raises(ValueError, match=r"smaller than the pooling window"):
        MaxPoolingWithArgmax2D(pool_size=4)(torch.zeros(1, 3, 2, 2))


def layers_bilinear_kernel_size(tmp_path, capsys):
    with pytest.raises(ValueError, match="must be a positive integer, got 0"):
        upsampling.bilinear_kernel(0)


def layers_unknown_model(tmp_path, capsys):
    from segdemo.torch import build_model

    with pytest.raises(ValueError, match=r"Unknown model 'segnett'; choose one of"):
        build_model("segnett", 11)


# Metrics -----------------------------------------------------------------------------------------------------

def metrics_shape_mismatch(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 5\)"):
        metrics.confusion_matrix(np.zeros((2, 4), np.uint8), np.zeros((2, 5), np.uint8), 3)


def metrics_float_labels(tmp_path, capsys):
    with pytest.raises(ValueError, match="float"):
        metrics.confusion_matrix(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.uint8), 3)


def metrics_label_out_of_range(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"7"):
        metrics.confusion_matrix(np.full((2, 4), 7, np.uint8), np.zeros((2, 4), np.uint8), 3)


def metrics_not_square(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"square \(K, K\) confusion matrix, got shape \(2, 3\)"):
        metrics.scores(np.zeros((2, 3), np.int64))


def metrics_zero_classes(tmp_path, capsys):
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        metrics.confusion_matrix(np.zeros((2, 4), np.uint8), np.zeros((2, 4), np.uint8), 0)


# Training ----------------------------------------------------------------------------------------------------

def training_num_classes_mismatch(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"num_classes=5 but the model predicts 3 classes"):
        _fit(num_classes=5)


def training_all_void_masks(tmp_path, capsys):
    images, masks = _data()
    with pytest.raises(ValueError, match=r"every pixel of every mask is 255 \(ignored\)"):
        _fit(train_data=(images, np.full_like(masks, 255)))


def training_zero_class_weights(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"has class weight 0, so the loss is always 0 / 0"):
        _fit(class_weights=[0.0, 0.0, 0.0])


def training_negative_seed(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"seed must be an integer of at least 0 and at most 4294967295, got -1"):
        _fit(seed=-1)


def training_infinite_learning_rate(tmp_path, capsys):
    with pytest.raises(ValueError, match="learning_rate must be positive and finite, got inf"):
        _fit(learning_rate=float("inf"))


def training_unknown_augmentation(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"Unknown augmentation 'rotate'; choose any of flip, scale, color"):
        _fit(augment="flip,rotate")


def training_unknown_schedule(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"Unknown learning-rate schedule 'step'; choose one of: constant, cosine"):
        _fit(schedule="step")


def training_unknown_precision(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"Unknown precision 'float16'; choose one of: float32, bfloat16"):
        _fit(precision="float16")


def training_keras_precision_mismatch(tmp_path, capsys):
    import keras

    from segdemo.tensorflow import train

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    images, masks = _data()
    with pytest.raises(ValueError, match=r"precision='bfloat16', but the model was built in float32 .*"
                                         r"dtype_policy\('mixed_bfloat16'\)"):
        train.fit(model, (images, masks), None, num_classes=3, epochs=1, batch_size=2, progress=False,
                  precision="bfloat16")


def training_half_resolution_logits(tmp_path, capsys):
    import torch

    class HalfResolution(torch.nn.Module):  # the seed's ResNet50-SegNet stops at half the input size
        def __init__(self):
            super().__init__()
            self.classifier = torch.nn.Conv2d(3, 3, 2, stride=2)

        def forward(self, inputs):
            return self.classifier(inputs)

    with pytest.raises(ValueError, match=r"returns 4x4 logits for 8x8 images; .*full_resolution=True"):
        _fit(model=HalfResolution())


def training_float_images(tmp_path, capsys):
    images, masks = _data()
    with pytest.raises(ValueError, match=r"images have dtype float32; expected uint8"):
        _fit(train_data=(images.astype(np.float32), masks))


def training_channels_first(tmp_path, capsys):
    images, masks = _data()
    with pytest.raises(ValueError, match=r"channels last"):
        _fit(train_data=(images.transpose(0, 3, 1, 2), masks))


def training_images_too_small(tmp_path, capsys):
    model = _tiny_torch_net()
    model.output_stride = 16
    with pytest.raises(ValueError, match=r"8x8 are too small for this model.*at least 16"):
        _fit(model=model)


def training_class_weights_length(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"class_weights has 2 values; expected one per class \(3\)"):
        _fit(class_weights=[1.0, 2.0])


def training_diverged(tmp_path, capsys):
    with pytest.raises(training.TrainingDivergedError, match=r"loss became .* at epoch 1, step \d+\. Lower"):
        _fit(learning_rate=1e30, epochs=3)


def training_resume_without_folder(tmp_path, capsys):
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        _fit(resume=True)


# Checkpoints -------------------------------------------------------------------------------------------------

def checkpoint_empty(tmp_path, capsys):
    from segdemo.torch import train

    _checkpoint(tmp_path).write_bytes(b"")
    with pytest.raises(training.CheckpointError, match=r"checkpoint\.pt is empty \(0 bytes\).*train again"):
        train.load_checkpoint(tmp_path, _tiny_torch_net())


def checkpoint_truncated(tmp_path, capsys):
    from segdemo.torch import train

    path = _checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(training.CheckpointError, match=r"checkpoint\.pt cannot be read .*truncated.*train again"):
        train.load_checkpoint(tmp_path, _tiny_torch_net())


def checkpoint_other_model(tmp_path, capsys):
    from segdemo.torch import train

    _checkpoint(tmp_path)
    with pytest.raises(training.CheckpointError, match=r"holds the weights of another model.*run\.json"):
        train.load_checkpoint(tmp_path, _tiny_torch_net(num_classes=5))


def checkpoint_resume_other_optimizer(tmp_path, capsys):
    _checkpoint(tmp_path)
    with pytest.raises(training.CheckpointError, match=r"optimizer='adam'.*optimizer='sgd'.*only change epochs"):
        _fit(checkpoint_dir=tmp_path, resume=True, epochs=2, optimizer="sgd")


def checkpoint_extend_cosine_run(tmp_path, capsys):
    _fit(checkpoint_dir=tmp_path, schedule="cosine")
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(training.CheckpointError, match=r"for 2 epochs: its cosine learning-rate schedule was laid "
                                                       r"out over 1 epochs.*Resume it with 1 epochs"):
        _fit(checkpoint_dir=tmp_path, resume=True, epochs=2, schedule="cosine")
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def checkpoint_missing(tmp_path, capsys):
    from segdemo.torch import train

    with pytest.raises(FileNotFoundError, match=r"No PyTorch checkpoint at .*checkpoint\.pt"):
        train.load_checkpoint(tmp_path, _tiny_torch_net())


def checkpoint_corrupt_run_file(tmp_path, capsys):
    (tmp_path / "run.json").write_text('{"model": ')
    with pytest.raises(ValueError, match=r"run\.json is not valid JSON .*--overwrite"):
        experiment.evaluate_checkpoint(tmp_path)


# Downloads ---------------------------------------------------------------------------------------------------

def download_offline(tmp_path, capsys, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(download_module, "_open_url", offline)
    with pytest.raises(DownloadError, match=r"Could not download .*unreachable.*offline\?"):
        download_module.download("https://example.org/x.zip", tmp_path / "x.zip")


def download_checksum_mismatch(tmp_path, capsys):
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    with pytest.raises(ValueError, match=r"Checksum mismatch .*expected sha256 0{64}, got"):
        download_module.download(source.as_uri(), tmp_path / "copy.bin", sha256="0" * 64)


def download_truncated_tar_gz(tmp_path, capsys):
    import io
    import tarfile

    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        content = np.random.default_rng(0).bytes(50_000)
        info = tarfile.TarInfo("images/a.jpg")
        info.size = len(content)
        bundle.addfile(info, io.BytesIO(content))
    archive.write_bytes(archive.read_bytes()[:20_000])
    with pytest.raises(ValueError, match=r"images\.tar\.gz is truncated or corrupt .*download it again"):
        download_module.extract_archive(archive, tmp_path / "out")


def download_not_an_archive(tmp_path, capsys):
    (tmp_path / "plain.zip").write_bytes(b"hello")
    with pytest.raises(ValueError, match="neither a zip nor a tar archive; delete it and download it again"):
        download_module.extract_archive(tmp_path / "plain.zip", tmp_path / "out")


def download_escaping_member(tmp_path, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as bundle:
        bundle.writestr("../escape.txt", b"x")
    with pytest.raises(ValueError, match=r"member '\.\./escape\.txt' that would escape the target"):
        download_module.extract_archive(tmp_path / "evil.zip", tmp_path / "out")


def download_camvid_stale_copy_offline(tmp_path, capsys, monkeypatch):
    root = _camvid(tmp_path / "cache")  # a copy that does not match the recorded digests
    before = sorted(root.rglob("*"))

    def offline(url):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(download_module, "_open_url", offline)
    with pytest.raises(DownloadError, match=r"kept as it is; it failed verification: CamVid split 'train'"):
        download_module.download_camvid(tmp_path / "cache")
    assert sorted(root.rglob("*")) == before


# Command line ------------------------------------------------------------------------------------------------

def cli_negative_seed(tmp_path, capsys):
    error = _cli_usage(["train", "--model", "segnet_small", "--framework", "pytorch", "--seed", "-1"], capsys,
                       "--seed")
    assert "'-1' is not a seed" in error


def cli_unknown_augmentation(tmp_path, capsys):
    error = _cli(["train", *TINY, "--augment", "flip,rotate", "--output-dir", str(tmp_path / "results"),
                  "--checkpoint-dir", str(tmp_path / "runs")], capsys, 2)
    assert "Unknown augmentation 'rotate'" in error
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def cli_extend_cosine_run(tmp_path, capsys):
    command = ["train", *TINY, "--schedule", "cosine", "--output-dir", str(tmp_path / "results"),
               "--checkpoint-dir", str(tmp_path / "runs")]
    assert main(command) == 0
    capsys.readouterr()
    folder = tmp_path / "runs" / "synthetic" / "tiny"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    error = _cli([*command, "--resume", "--epochs", "2"], capsys, 2)
    assert "cosine learning-rate schedule was laid out over 1 epochs" in error
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def cli_bad_image_size(tmp_path, capsys):
    error = _cli_usage(["train", "--model", "segnet_small", "--framework", "pytorch", "--image-size", "32by32"],
                       capsys, "--image-size")
    assert "is not HEIGHTxWIDTH" in error


def cli_infinite_learning_rate(tmp_path, capsys):
    error = _cli_usage(["train", "--model", "segnet_small", "--framework", "pytorch", "--learning-rate", "inf"],
                       capsys, "--learning-rate")
    assert "'inf' is not a finite number above 0" in error


def cli_unknown_model(tmp_path, capsys):
    error = _cli(["train", "--model", "segnett", "--framework", "pytorch"], capsys, 2)
    assert "Unknown model 'segnett'; choose one of" in error


def cli_width_not_an_option(tmp_path, capsys):
    error = _cli(["train", "--model", "segnet_basic", "--framework", "pytorch", "--width", "8"], capsys, 2)
    assert "--width is not an option of segnet_basic" in error


def cli_resume_and_overwrite(tmp_path, capsys):
    error = _cli(["train", "--model", "segnet_small", "--framework", "pytorch", "--resume", "--overwrite"], capsys, 2)
    assert "pass one of them" in error


def cli_resume_changed_width(tmp_path, capsys, trained_run):
    command, folder = trained_run
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    error = _cli([*command, "--resume", "--width", "16"], capsys, 2)
    assert "width=8" in error and "width=16" in error and "--overwrite" in error
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def cli_existing_run_without_resume(tmp_path, capsys, trained_run):
    command, _ = trained_run
    error = _cli(command, capsys, 2)
    assert "already holds a trained run. Pass --resume" in error


def cli_output_dir_under_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    error = _cli(["train", *TINY, "--output-dir", str(tmp_path / "file" / "out"), "--checkpoint-dir",
                  str(tmp_path / "runs")], capsys, 2)
    assert "is a file" in error and not (tmp_path / "runs").exists()


def cli_disk_full(tmp_path, capsys, monkeypatch):
    import errno

    def full_disk(config):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "results" / "x.json"))

    monkeypatch.setattr(experiment, "train", full_disk)
    error = _cli(["train", "--model", "segnet_small", "--framework", "pytorch"], capsys, 1)
    assert "No space left on device" in error and "x.json" in error


def cli_evaluate_without_run_file(tmp_path, capsys):
    error = _cli(["evaluate", "--checkpoint", str(tmp_path)], capsys, 2)
    assert "No run.json in" in error


def cli_evaluate_damaged_checkpoint(tmp_path, capsys, trained_run):
    import shutil

    _, folder = trained_run
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "checkpoint.pt").write_bytes(b"")
    error = _cli(["evaluate", "--checkpoint", str(copy)], capsys, 2)
    assert "checkpoint.pt is empty (0 bytes)" in error


CASES = {name.replace("_", "-"): function for name, function in dict(globals()).items()
         if callable(function) and name.split("_")[0] in ("data", "layers", "metrics", "training", "checkpoint",
                                                          "download", "cli")}


@pytest.mark.parametrize("row", sorted(CASES))
def test_catalogue_row(row, tmp_path, capsys, monkeypatch, request):
    function = CASES[row]
    arguments = {"tmp_path": tmp_path, "capsys": capsys}
    names = function.__code__.co_varnames[: function.__code__.co_argcount]
    if "monkeypatch" in names:
        arguments["monkeypatch"] = monkeypatch
    if "trained_run" in names:
        arguments["trained_run"] = request.getfixturevalue("trained_run")
    function(**arguments)


def catalogue_rows() -> list[str]:
    """The row ids (first column, in backticks) of the catalogue table in CONTRIBUTING.md."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert SECTION in text, f"CONTRIBUTING.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)


def test_catalogue_and_tests_match():
    rows = catalogue_rows()
    assert len(rows) == len(set(rows)), "a row id appears twice in CONTRIBUTING.md"
    assert len(rows) >= 30
    assert set(rows) == set(CASES), (
        f"rows without a test: {sorted(set(rows) - set(CASES))}; tests without a row: {sorted(set(CASES) - set(rows))}"
    )
    areas = {row.split("-")[0] for row in rows}
    assert areas == {"data", "layers", "metrics", "training", "checkpoint", "download", "cli"}
