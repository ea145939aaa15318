"""Command line: ``python -m segdemo train ...`` and ``python -m segdemo evaluate ...`` (argument parsing only).

The work is done by ``segdemo.experiment``. Examples::

    python -m segdemo train --model segnet_basic --framework pytorch --data camvid --profile standard
    python -m segdemo train --model segnet_small --framework tensorflow --profile quick --resume
    python -m segdemo evaluate --checkpoint runs/camvid/segnet_basic-pytorch-standard --data camvid --split test
    python -m segdemo pack-camvid --output .pack/camvid.zip
    python -m segdemo sweep --pack .pack/camvid.zip --output-dir OUT --budget-seconds 480
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
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,pack-camvid,sweep}")

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
    _add_pack_parser(commands)
    _add_sweep_parser(commands)
    return parser


def _add_pack_parser(commands) -> None:
    pack = commands.add_parser(
        "pack-camvid",
        help="pack CamVid into one file small enough to send to a GPU machine",
        description=(
            "Write CamVid's three splits into one zip file: photos as JPEG at the best quality that fits "
            "--max-mib, labels as the original PNG files (bit-identical, SHA-256 recorded)."
        ),
    )
    pack.add_argument("--data-dir", default=None,
                      help="the CamVid folder (default: $SEGDEMO_CAMVID_DIR, else the download cache)")
    pack.add_argument("--output", required=True, help="the pack to write, e.g. .pack/camvid.zip")
    pack.add_argument("--max-mib", type=_positive_int, default=48, help="size limit of the pack in MiB (default 48)")
    pack.add_argument("--max-images", type=_positive_int, default=None,
                      help="pack only the first N images of each split (dry runs)")


def _add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="the full profile: train every model at 360x480 on a GPU within a time budget (PyTorch only)",
        description=(
            "Benchmark a training step of each model (eager and torch.compile), train each model on CamVid "
            "with data and augmentation on the GPU (bfloat16, channels-last) for as many epochs as the budget "
            "allows, score test and val, and write result files, figures and benchmarks/gpu_train_step.json."
        ),
    )
    sweep.add_argument("--pack", default=None, help="a CamVid pack from pack-camvid (default: read --data-dir)")
    sweep.add_argument("--data-dir", default=None, help="the CamVid folder when there is no pack")
    sweep.add_argument("--output-dir", required=True, help="folder for camvid/*.json, figures and benchmarks/")
    sweep.add_argument("--models", default=None,
                       help="comma-separated subset of segnet_basic, encoder_decoder, resnet50_segnet, segnet, "
                            "fcn8s (default: all)")
    sweep.add_argument("--budget-seconds", type=float, default=480.0,
                       help="wall time for the whole sweep; epochs are trimmed to fit (default 480)")
    sweep.add_argument("--epochs", type=_positive_int, default=None, help="most epochs per model (default: 100)")
    sweep.add_argument("--batch-size", type=_positive_int, default=8, help="images per step (default 8)")
    sweep.add_argument("--image-size", type=_image_size, default=None, help="HEIGHTxWIDTH (default 360x480)")
    sweep.add_argument("--max-images", type=_positive_int, default=None,
                       help="first N images of each split only (dry runs)")
    sweep.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help="default: auto")
    sweep.add_argument("--compile", default="auto", choices=("auto", "on", "off"),
                       help="also benchmark torch.compile (auto: on a GPU only)")
    sweep.add_argument("--warmup", type=_positive_int, default=5, help="untimed benchmark steps (default 5)")
    sweep.add_argument("--repeats", type=_positive_int, default=20, help="timed benchmark steps (default 20)")
    sweep.add_argument("--archive", default=None,
                       help="a .tar rewritten after every model with everything written so far")
    sweep.add_argument("--seed", type=int, default=0, help="seed of weights, batch order and augmentation")


def _run_pack(arguments: argparse.Namespace) -> None:
    from segdemo.data.pack import pack_camvid

    manifest = pack_camvid(arguments.data_dir, arguments.output, max_bytes=arguments.max_mib * 2**20,
                           max_images=arguments.max_images)
    print(f"Wrote {arguments.output}: {manifest['bytes'] / 2**20:.1f} MiB, JPEG quality {manifest['quality']}, "
          f"PSNR {manifest['psnr_db']['mean']:.1f} dB (min {manifest['psnr_db']['min']:.1f}); labels bit-identical")


def _run_sweep(arguments: argparse.Namespace) -> None:
    from segdemo.torch import sweep

    config = sweep.SweepConfig(
        output_dir=arguments.output_dir, pack=arguments.pack, data_dir=arguments.data_dir,
        models=tuple(arguments.models.split(",")) if arguments.models else sweep.SweepConfig.models,
        budget_seconds=arguments.budget_seconds, epochs=arguments.epochs, batch_size=arguments.batch_size,
        image_size=arguments.image_size, max_images=arguments.max_images, device=arguments.device,
        compile_benchmark={"auto": None, "on": True, "off": False}[arguments.compile],
        warmup=arguments.warmup, repeats=arguments.repeats, archive=arguments.archive, seed=arguments.seed,
    )
    outcome = sweep.run_sweep(config)
    print(sweep.summary_table(outcome))


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
        elif arguments.command == "pack-camvid":
            _run_pack(arguments)
        elif arguments.command == "sweep":
            _run_sweep(arguments)
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
