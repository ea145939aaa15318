"""Nothing lost, nothing misreported: the runner checks everything before it writes, and never overwrites silently.

Each test trains a tiny PyTorch run (seconds) through the command line and then tries what a user might do next.
"""

import json

import pytest

from segdemo import experiment, profiles, results
from segdemo.__main__ import main

TINY = ["--model", "segnet_small", "--framework", "pytorch", "--profile", "quick", "--width", "8",
        "--image-size", "32x32", "--max-train-images", "4", "--max-val-images", "2", "--batch-size", "2",
        "--no-progress"]


def _folders(tmp_path):
    return ["--output-dir", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "runs")]


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def trained(tmp_path, capsys):
    """A finished 1-epoch run named "tiny"; returns (command, run folder, result path)."""
    command = ["train", *TINY, *_folders(tmp_path), "--name", "tiny"]
    assert main([*command, "--epochs", "1"]) == 0
    capsys.readouterr()
    return command, tmp_path / "runs" / "synthetic" / "tiny", tmp_path / "results" / "synthetic" / "tiny.json"


@pytest.mark.parametrize(("change", "named"), [
    (["--width", "16"], "width=8"),
    (["--seed", "3"], "seed=0"),
    (["--learning-rate", "0.01"], "learning_rate=0.001"),
    (["--batch-size", "4"], "batch_size=2"),
    (["--optimizer", "sgd"], "optimizer='adam'"),
    (["--image-size", "48x48"], "image_size=[32, 32]"),
    (["--max-train-images", "3"], "max_train_images=4"),
])
def test_refused_resume_leaves_the_run_folder_untouched_and_evaluable(trained, capsys, change, named):
    command, folder, result = trained
    before, result_before = _snapshot(folder), result.read_bytes()
    assert main([*command, "--epochs", "2", "--resume", *change]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and named in error and "--overwrite" in error and "Traceback" not in error
    assert _snapshot(folder) == before and result.read_bytes() == result_before
    assert main(["evaluate", "--checkpoint", str(folder), "--split", "val"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image_size"] == [32, 32] and report["seed"] == 0 and report["width"] == 8


def test_bad_seed_and_image_size_change_nothing(trained, capsys):
    command, folder, _ = trained
    before = _snapshot(folder)
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--seed", "-1", "--image-size", "48x48"])
    assert exit_info.value.code == 2 and "--seed" in capsys.readouterr().err
    config = experiment.TrainingConfig(model="segnet_small", framework="pytorch", seed=-1, image_size=(48, 48),
                                       output_dir=str(folder.parent.parent.parent / "results"),
                                       checkpoint_dir=str(folder.parent.parent), name="tiny", overwrite=True)
    with pytest.raises(ValueError, match=r"--seed must be an integer of at least 0.*-1"):
        experiment.train(config)
    assert _snapshot(folder) == before


def test_resume_extends_epochs_and_provenance_tells_the_truth(trained, capsys):
    command, folder, result = trained
    assert main([*command, "--epochs", "2", "--resume"]) == 0
    record = results.read_result(result)
    assert len(record["history"]["train_loss"]) == 2
    provenance = record["provenance"]
    assert provenance["resumed"] is True and provenance["epochs"] == 2 and provenance["learning_rate"] == 0.001
    assert json.loads((folder / "run.json").read_text())["epochs"] == 2


def test_no_silent_overwrite_of_a_run_or_a_result(trained, capsys):
    command, folder, result = trained
    before, result_before = _snapshot(folder), result.read_bytes()
    assert main([*command, "--epochs", "1"]) == 2
    assert "already holds a trained run" in capsys.readouterr().err
    assert _snapshot(folder) == before and result.read_bytes() == result_before
    # A result file without its run folder (a committed result) is protected too.
    other_runs = folder.parent.parent.parent / "other-runs"
    assert main([*command, "--epochs", "1", "--checkpoint-dir", str(other_runs)]) == 2
    assert "already exists" in capsys.readouterr().err and result.read_bytes() == result_before
    assert main([*command, "--epochs", "1", "--overwrite"]) == 0
    assert result.read_bytes() != result_before


def test_runs_with_overrides_get_their_own_name():
    profile = profiles.get_profile("quick")
    plain = experiment.TrainingConfig(model="segnet_small", framework="pytorch", profile="quick")
    assert experiment.run_name(plain, profile) == "segnet_small-pytorch-quick"
    same = experiment.TrainingConfig(model="segnet_small", framework="pytorch", epochs=profile.epochs,
                                     image_size=profile.image_size)
    assert experiment.run_name(same, profile) == "segnet_small-pytorch-quick"
    debug = experiment.TrainingConfig(model="segnet_small", framework="pytorch", epochs=profile.epochs + 1,
                                      max_train_images=8, image_size=(32, 32))
    assert experiment.run_name(debug, profile) == f"segnet_small-pytorch-quick-32x32-epochs{profile.epochs + 1}-train8"
    recipe = experiment.TrainingConfig(model="segnet_small", framework="pytorch", augment="scale,flip",
                                       schedule="cosine")
    assert experiment.run_name(recipe, profile) == "segnet_small-pytorch-quick-aug_flip_scale-cosine"
    as_profile = experiment.TrainingConfig(model="segnet_small", framework="pytorch", augment=profile.augment,
                                           schedule=profile.schedule)
    assert experiment.run_name(as_profile, profile) == "segnet_small-pytorch-quick"
    with pytest.raises(ValueError, match="--name '../x'"):
        experiment.run_name(experiment.TrainingConfig(model="m", framework="pytorch", name="../x"), profile)
    indices = experiment.TrainingConfig(model="resnet50_segnet", framework="pytorch", indices=True)
    assert experiment.run_name(indices, profile) == "resnet50_segnet-pytorch-quick-indices"


def test_indices_are_an_option_of_resnet50_segnet_only():
    experiment.check_config(experiment.TrainingConfig(model="resnet50_segnet", framework="pytorch", indices=True))
    with pytest.raises(ValueError, match="--indices is not an option of segnet_small; only resnet50_segnet"):
        experiment.check_config(experiment.TrainingConfig(model="segnet_small", framework="pytorch", indices=True))


def test_dropout_is_an_option_of_the_article_models_named_when_not_their_default():
    profile = profiles.get_profile("quick")

    def name(model, dropout):
        config = experiment.TrainingConfig(model=model, framework="pytorch", dropout=dropout)
        return experiment.run_name(config, profile)

    assert name("encoder_decoder", 0.5) == "encoder_decoder-pytorch-quick-dropout0.5"
    assert name("segnet_small", 0.0) == "segnet_small-pytorch-quick-dropout0"
    # The article's own rates are the committed runs: same name, same run.
    assert name("segnet_small", 0.5) == name("segnet_small", None) == "segnet_small-pytorch-quick"
    assert name("encoder_decoder", 0) == "encoder_decoder-pytorch-quick"
    experiment.check_config(experiment.TrainingConfig(model="encoder_decoder", framework="pytorch", dropout=0.5))
    with pytest.raises(ValueError, match="--dropout is not an option of segnet_basic; only encoder_decoder, "
                                         "segnet_small"):
        experiment.check_config(experiment.TrainingConfig(model="segnet_basic", framework="pytorch", dropout=0.5))
    with pytest.raises(ValueError, match=r"--dropout must be a number in \[0, 1\).*got 1.0"):
        experiment.check_config(experiment.TrainingConfig(model="segnet_small", framework="pytorch", dropout=1.0))


def test_output_dir_under_a_file_fails_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    arguments = ["train", *TINY, "--epochs", "1", "--output-dir", str(tmp_path / "file" / "results"),
                 "--checkpoint-dir", str(tmp_path / "runs")]
    assert main(arguments) == 2
    assert f"{tmp_path / 'file'} is a file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    arguments = [argument for argument in TINY if argument != "--no-progress"]
    assert main(["train", *arguments, "--epochs", "2", *_folders(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and " s  loss " in lines[0]
    assert "val mIoU" in lines[1]


def test_result_files_hold_per_class_accuracy(trained):
    _, _, result = trained
    scores = results.read_result(result)["splits"]["val"]
    assert len(scores["per_class_accuracy"]) == len(scores["per_class_iou"])


def test_model_names_are_the_registries_keys():
    from segdemo.tensorflow import MODEL_BUILDERS as keras_builders
    from segdemo.torch import MODEL_BUILDERS as torch_builders

    assert set(experiment.MODEL_NAMES) == set(torch_builders) == set(keras_builders)
    assert set(experiment.WIDTH_MODELS) < set(experiment.MODEL_NAMES)
    import inspect

    takes_width = {name for name, builder in torch_builders.items() if "width" in inspect.signature(builder).parameters}
    assert takes_width == set(experiment.WIDTH_MODELS)
