"""Command line: ``python -m segdemo train ...`` and ``python -m segdemo evaluate ...`` (argument parsing only).

The work is done by ``segdemo.experiment``. Examples::

    python -m segdemo train --model segnet_basic --framework pytorch --data camvid --profile standard
    python -m segdemo train --model segnet_small --framework tensorflow --profile quick --resume
    python -m segdemo evaluate --checkpoint runs/camvid/segnet_basic-pytorch-standard --data camvid --split test
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from segdemo import experiment, profiles


def _image_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not HEIGHTxWIDTH, e.g. 96x128") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"image size {text!r} must be positive")
    return height, width


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``segdemo`` argument parser with its ``train`` and ``evaluate`` commands."""
    parser = argparse.ArgumentParser(
        prog="python -m segdemo",
        description="Train and evaluate the book's segmentation models; results go to results/<data>/.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate}")

    train = commands.add_parser(
        "train",
        help="train a model, evaluate it on val (and test when present), write a result file",
        description=(
            "Train a model and write results/<data>/<model>-<framework>-<profile>.json (scores per split, "
            "history, class weights, provenance) and a .png of the curves. A checkpoint is written every epoch "
            "to <checkpoint-dir>/<data>/<model>-<framework>-<profile>/; --resume continues a killed run."
        ),
    )
    train.add_argument("--model", required=True,
                       help="model name, e.g. encoder_decoder, segnet_small, segnet_basic, segnet, "
                            "resnet50_segnet, fcn32s, fcn16s, fcn8s")
    train.add_argument("--framework", required=True, choices=experiment.FRAMEWORKS, help="which implementation to train")
    train.add_argument("--data", default=None,
                       help="dataset: synthetic or camvid (default: the profile's; quick uses synthetic)")
    train.add_argument("--profile", default=None, choices=[*profiles.PROFILES, "auto"],
                       help=f"image size, batch size, epochs and data caps (default: ${profiles.ENVIRONMENT_VARIABLE} or quick)")
    train.add_argument("--data-dir", default=None,
                       help="folder holding the dataset (default: $SEGDEMO_CAMVID_DIR, else the download cache)")
    train.add_argument("--epochs", type=_positive_int, default=None, help="number of epochs (default: the profile's)")
    train.add_argument("--batch-size", type=_positive_int, default=None, help="images per step (default: the profile's)")
    train.add_argument("--image-size", type=_image_size, default=None,
                       help="HEIGHTxWIDTH images are resized to (default: the profile's)")
    train.add_argument("--max-train-images", type=_positive_int, default=None,
                       help="use at most this many training images (default: the profile's cap)")
    train.add_argument("--max-val-images", type=_positive_int, default=None,
                       help="use at most this many val (and test) images (default: the profile's cap)")
    train.add_argument("--optimizer", default="adam", choices=("adam", "sgd"),
                       help="adam (betas 0.9/0.999, the SegNet article) or sgd (momentum 0.9, weight decay 5e-4, "
                            "the SegNet paper); default adam")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="step size (default 1e-3)")
    train.add_argument("--class-weights", default=None, choices=experiment.CLASS_WEIGHTINGS,
                       help="loss weights per class: median-frequency (default for segnet_basic and segnet, as in "
                            "the SegNet paper) or none (default for the other models)")
    train.add_argument("--width", type=_positive_int, default=None,
                       help="channels of the first block, for encoder_decoder, segnet_small and the FCNs "
                            "(default: the model's; FCNs: VGG16's 64)")
    train.add_argument("--seed", type=int, default=0, help="seed of initial weights, shuffles and dropout (default 0)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run's last checkpoint (at most one epoch is lost)")
    train.add_argument("--output-dir", default="results", help="folder for result files (default results)")
    train.add_argument("--checkpoint-dir", default="runs", help="folder for checkpoints, git-ignored (default runs)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown in a terminal)")

    evaluate = commands.add_parser(
        "evaluate",
        help="score a checkpoint on one split",
        description="Score a checkpoint written by `train` on one split and print the scores as JSON.",
    )
    evaluate.add_argument("--checkpoint", required=True,
                          help="checkpoint folder runs/<data>/<model>-<framework>-<profile> (or a file in it)")
    evaluate.add_argument("--data", default=None, help="dataset (default: the one the model was trained on)")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default test)")
    evaluate.add_argument("--data-dir", default=None,
                          help="folder holding the dataset (default: $SEGDEMO_CAMVID_DIR, else the download cache)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=None,
                          help="images per forward pass (default: the training batch size)")
    evaluate.add_argument("--max-images", type=_positive_int, default=None,
                          help="score only the first N images of the split (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "train":
            config = experiment.TrainingConfig(
                model=arguments.model,
                framework=arguments.framework,
                profile=arguments.profile or profiles.get_profile().name,
                data=arguments.data,
                data_dir=arguments.data_dir,
                epochs=arguments.epochs,
                batch_size=arguments.batch_size,
                image_size=arguments.image_size,
                max_train_images=arguments.max_train_images,
                max_val_images=arguments.max_val_images,
                optimizer=arguments.optimizer,
                learning_rate=arguments.learning_rate,
                class_weights=arguments.class_weights,
                width=arguments.width,
                seed=arguments.seed,
                output_dir=arguments.output_dir,
                checkpoint_dir=arguments.checkpoint_dir,
                resume=arguments.resume,
                progress=False if arguments.no_progress else None,
            )
            record = experiment.train(config)
            for split, scores in record["splits"].items():
                summary = ", ".join(
                    f"{key} {'-' if scores[key] is None else format(scores[key], '.4f')}"
                    for key in ("global_accuracy", "class_accuracy", "mean_iou", "boundary_f1")
                )
                print(f"{split}: {summary}")
            print(f"Wrote {record['result_path']}")
        else:
            report = experiment.evaluate_checkpoint(
                arguments.checkpoint, data=arguments.data, split=arguments.split, data_dir=arguments.data_dir,
                batch_size=arguments.batch_size, max_images=arguments.max_images,
            )
            print(json.dumps(report, indent=2))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
