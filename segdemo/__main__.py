"""Command line: ``python -m segdemo train ...`` and ``python -m segdemo evaluate ...`` (argument parsing only).

The work is done by ``segdemo.experiment``. Examples::

    python -m segdemo train --model segnet_basic --framework pytorch --data camvid --profile standard
    python -m segdemo train --model segnet_small --framework tensorflow --profile quick --resume
    python -m segdemo evaluate --checkpoint runs/camvid/segnet_basic-pytorch-standard --data camvid --split test
    python -m segdemo pack-camvid --output .pack/camvid.zip
    python -m segdemo sweep --pack .pack/camvid.zip --output-dir OUT --budget-seconds 480
    python -m segdemo download camvid --to ~/data

Errors: segdemo's errors (ValueError, FileNotFoundError, CheckpointError), OSError (a full disk, a read-only
folder, the network) and a diverged training are printed as one line ``error: ...`` without a traceback; the
exit status is 2 for bad input (arguments, files, data) and 1 for a fault while running.
"""

from __future__ import annotations

import os

# TensorFlow reads this once, when it is imported: set it before anything imports it (a user's value wins).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402

from segdemo import experiment, profiles, training, validation  # noqa: E402

DOWNLOADABLE = ("camvid", "pets", "kitti_road", "voc")
"""Datasets ``python -m segdemo download`` fetches (each through its verified download in segdemo.data)."""

CACHE_HELP = (
    "Cache: resized arrays of every split a run loads (train, val and test) are kept as .npz files in "
    "<cache>/arrays/, and `download` puts datasets in <cache>/<dataset>/. <cache> is --cache-dir (--to), else "
    "$SEGDEMO_CACHE_DIR, else ~/.cache/segdemo; delete it at any time to free the space (it is rebuilt)."
)

# What TensorFlow writes to the process's stderr while it is imported, before its logging is set up (so
# TF_CPP_MIN_LOG_LEVEL cannot hide it): start-up notes, not errors.
_TENSORFLOW_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|[IW]\d{4} .*\] (oneDNN custom "
    r"operations|This TensorFlow binary is optimized)|To enable the following instructions)"
)


def _image_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not HEIGHTxWIDTH, e.g. 96x128") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"image size {text!r} must be positive")
    return height, width


def _seed(text: str) -> int:
    try:
        return validation.check_seed(int(text), "the seed")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: pass an integer 0..{validation.MAX_SEED}") from None


def _positive_float(text: str) -> float:
    try:
        return validation.check_positive_number(float(text), "the value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0, e.g. 1e-3") from None


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
        epilog=CACHE_HELP,
    )
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{train,evaluate,download,pack-camvid,sweep}")

    train = commands.add_parser(
        "train",
        help="train a model, evaluate it on val (and test when present), write a result file",
        description=(
            "Train a model and write results/<data>/<name>.json (scores and per-class IoU and accuracy per "
            "split, history, class weights, provenance) and a .png of the curves. <name> is "
            "<model>-<framework>-<profile>, followed by the profile settings you override (e.g. "
            "-epochs1-train8), or --name. A checkpoint is written every epoch to <checkpoint-dir>/<data>/<name>/; "
            "--resume continues a killed run (only --epochs may change), --overwrite replaces a run. Everything "
            "is checked before anything is written. Without a terminal, one line per epoch goes to stderr."
        ),
        epilog=CACHE_HELP,
    )
    train.add_argument("--model", required=True,
                       help="model name, e.g. encoder_decoder, segnet_small, segnet_basic, segnet, "
                            "resnet50_segnet, fcn32s, fcn16s, fcn8s, unet")
    train.add_argument("--framework", required=True, choices=experiment.FRAMEWORKS, help="which implementation to train")
    train.add_argument("--data", default=None,
                       help="dataset, e.g. synthetic, camvid or pets (default: the profile's; quick uses "
                            "synthetic)")
    train.add_argument("--profile", default=None, choices=[*profiles.PROFILES, "auto"],
                       help=f"image size, batch size, epochs and data caps (default: ${profiles.ENVIRONMENT_VARIABLE} or quick)")
    train.add_argument("--data-dir", default=None,
                       help="folder holding the dataset (default: the dataset's variable, e.g. $SEGDEMO_CAMVID_DIR or "
                            "$SEGDEMO_PETS_DIR, else the download cache)")
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
    train.add_argument("--learning-rate", type=_positive_float, default=1e-3, help="step size (default 1e-3)")
    train.add_argument("--class-weights", default=None, choices=experiment.CLASS_WEIGHTINGS,
                       help="loss weights per class: median-frequency (default for segnet_basic and segnet, as in "
                            "the SegNet paper) or none (default for the other models)")
    train.add_argument("--width", type=_positive_int, default=None,
                       help="channels of the first block, for encoder_decoder, segnet_small, the FCNs and unet "
                            "(default: the model's; FCNs: VGG16's 64)")
    train.add_argument("--indices", action="store_true",
                       help="resnet50_segnet only: give the decoder the encoder's pooling indices (stride-2 steps "
                            "become stride-1 steps and index-recording max-pools; chapter 7)")
    train.add_argument("--dropout", type=float, default=None,
                       help="encoder_decoder and segnet_small only: rate of the dropout before the decoder, in [0, 1) "
                            "(default: the article's, 0 and 0.5; set both models to one rate to compare them in the "
                            "indices alone; chapter 5)")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seed of initial weights, shuffles and dropout, 0..2**32-1 (default 0)")
    train.add_argument("--augment", default=None,
                       help="augmentation of the training batches: none, or any of flip, scale, color joined by "
                            "commas, e.g. flip,scale,color (default: the profile's)")
    train.add_argument("--schedule", default=None, choices=("constant", "cosine"),
                       help="learning-rate schedule: constant, or cosine decay to 0 over the epochs "
                            "(default: the profile's)")
    train.add_argument("--precision", default=None, choices=("float32", "bfloat16"),
                       help="arithmetic of the training steps on a CPU: float32, or bfloat16 mixed precision "
                            "(about 2x faster only on CPUs with avx512_bf16 or amx_bf16) (default: the profile's)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run's last checkpoint (at most one epoch is lost); only --epochs may "
                            "differ from the run's settings")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing run folder and result file of the same name")
    train.add_argument("--name", default=None,
                       help="name of the result file and checkpoint folder (default: <model>-<framework>-<profile> "
                            "plus the overridden profile settings)")
    train.add_argument("--output-dir", default="results", help="folder for result files (default results)")
    train.add_argument("--checkpoint-dir", default="runs", help="folder for checkpoints, git-ignored (default runs)")
    train.add_argument("--cache-dir", default=None,
                       help="cache of resized arrays (default: $SEGDEMO_CACHE_DIR, else ~/.cache/segdemo)")
    train.add_argument("--no-progress", action="store_true",
                       help="no progress output (default: bars in a terminal, else one line per epoch on stderr)")

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
                          help="folder holding the dataset (default: the dataset's variable, e.g. $SEGDEMO_CAMVID_DIR or "
                            "$SEGDEMO_PETS_DIR, else the download cache)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=None,
                          help="images per forward pass (default: the training batch size)")
    evaluate.add_argument("--max-images", type=_positive_int, default=None,
                          help="score only the first N images of the split (default: all)")
    evaluate.add_argument("--cache-dir", default=None,
                          help="cache of resized arrays (default: $SEGDEMO_CACHE_DIR, else ~/.cache/segdemo)")
    _add_download_parser(commands)
    _add_pack_parser(commands)
    _add_sweep_parser(commands)
    return parser


def _add_download_parser(commands) -> None:
    download = commands.add_parser(
        "download",
        help="download and verify a dataset (camvid, pets, kitti_road, voc)",
        description=(
            "Download a dataset into <cache>/<dataset>/ and verify it (CamVid: file by file against recorded "
            "digests; Pets and VOC: the archives' MD5; KITTI road: its layout). A verified copy is not fetched "
            "again, and an existing copy is never deleted before its replacement is verified."
        ),
        epilog=CACHE_HELP,
    )
    download.add_argument("dataset", choices=DOWNLOADABLE, help="which dataset")
    download.add_argument("--to", default=None,
                          help="the cache folder to download into (default: $SEGDEMO_CACHE_DIR, else ~/.cache/segdemo)")


def _run_download(arguments: argparse.Namespace) -> None:
    from segdemo import data

    fetch = {"camvid": data.download_camvid, "pets": data.download_pets, "kitti_road": data.download_kitti_road,
             "voc": data.download_voc}[arguments.dataset]
    root = fetch(arguments.to)
    hint = " (or set SEGDEMO_CAMVID_DIR to it)" if arguments.dataset == "camvid" else ""
    print(f"{arguments.dataset} is ready in {root}; pass --data-dir {root}{hint}")


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
    sweep.add_argument("--seed", type=_seed, default=0, help="seed of weights, batch order and augmentation")


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


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Holds back what native code writes to file descriptor 2, then passes on all but TensorFlow's start-up notes."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedding host): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not _TENSORFLOW_NOISE.match(line):
                    print(line, file=sys.stderr)


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up lines silenced (the command line only; notebooks never call this)."""
    if "tensorflow" in sys.modules:
        return
    with _quiet_native_stderr(), contextlib.suppress(ImportError):
        import tensorflow  # noqa: F401
        import keras  # noqa: F401


def _uses_tensorflow(arguments: argparse.Namespace) -> bool:
    if arguments.command == "train":
        return arguments.framework == "tensorflow"
    if arguments.command == "evaluate":
        try:
            checkpoint = arguments.checkpoint
            folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
            return experiment.read_run_file(folder).get("framework") == "tensorflow"
        except (OSError, ValueError):
            return False  # evaluate_checkpoint reports the problem itself
    return False


def _training_config(arguments: argparse.Namespace) -> experiment.TrainingConfig:
    return experiment.TrainingConfig(
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
        indices=arguments.indices,
        dropout=arguments.dropout,
        seed=arguments.seed,
        output_dir=arguments.output_dir,
        checkpoint_dir=arguments.checkpoint_dir,
        resume=arguments.resume,
        progress=False if arguments.no_progress else None,
        name=arguments.name,
        overwrite=arguments.overwrite,
        cache_dir=arguments.cache_dir,
        augment=arguments.augment,
        schedule=arguments.schedule,
        precision=arguments.precision,
    )


def _run(arguments: argparse.Namespace) -> None:
    if _uses_tensorflow(arguments):
        _import_tensorflow_quietly()
    if arguments.command == "train":
        record = experiment.train(_training_config(arguments))
        for split, scores in record["splits"].items():
            summary = ", ".join(
                f"{key} {'-' if scores[key] is None else format(scores[key], '.4f')}"
                for key in ("global_accuracy", "class_accuracy", "mean_iou", "boundary_f1")
            )
            print(f"{split}: {summary}")
        print(f"Wrote {record['result_path']}")
    elif arguments.command == "download":
        _run_download(arguments)
    elif arguments.command == "pack-camvid":
        _run_pack(arguments)
    elif arguments.command == "sweep":
        _run_sweep(arguments)
    else:
        report = experiment.evaluate_checkpoint(
            arguments.checkpoint, data=arguments.data, split=arguments.split, data_dir=arguments.data_dir,
            batch_size=arguments.batch_size, max_images=arguments.max_images, cache_dir=arguments.cache_dir,
        )
        print(json.dumps(report, indent=2))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{text}: {error.filename}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0 done, 1 a fault while running, 2 bad input).

    Every error segdemo raises for bad input (ValueError, FileNotFoundError and their subclasses such as
    CheckpointError), every OSError (disk full, permissions, network) and a diverged training are printed as
    one line on stderr, without a traceback.
    """
    arguments = build_parser().parse_args(argv)
    try:
        _run(arguments)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (OSError, training.TrainingDivergedError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the last finished epoch is in the checkpoint (continue with --resume)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
