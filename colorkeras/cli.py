"""The `colorkeras` command line. Each subcommand is a thin call into the package.

The parser is a table (`SUBCOMMANDS`): one ``add_<subcommand>`` function per subcommand
declares its arguments and its handler (``cmd_<subcommand>``). The package's light modules
are imported here at the top; the ones that import Keras or TensorFlow when they load
(training, embedding) only inside the handler that needs them, after every check that
needs no model, so that a mistake (a misspelt path, a wrong option) is said at once.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from colorkeras.app import serve
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.data.prepare import PrepareSettings, prepare
from colorkeras.data.sun397 import SUN397_URL, fetch_urban32
from colorkeras.data.synthetic import write_toy_city
from colorkeras.demo import run_demo
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.evaluation.evaluate import GREY_FLOOR, check_inputs, evaluate_run, grey_floor_verdict
from colorkeras.evaluation.quality import check_sources, run_grid, setting_name
from colorkeras.evaluation.report import write_report
from colorkeras.evaluation.video_evaluate import check_clip_folder, evaluate_clip, write_clip_evaluation
from colorkeras.inference.colorize import colorize_paths
from colorkeras.inference.reference import is_transfer_name
from colorkeras.inference.service import APP_MAX_PIXELS, MAX_CLIP_SECONDS
from colorkeras.inference.video import colorize_video_paths, is_video_input
from colorkeras.inference.video_io import MAX_VIDEO_PIXELS
from colorkeras.models.registry import MODEL_NAMES
from colorkeras.training.shipped import default_model_dir, exemplar_model_dir, looks_like_model
from colorkeras.runtime import device_line, quiet_tensorflow_startup
from colorkeras.training.config import TrainConfig, data_size_problem, parse_overrides
from colorkeras.training.objectives import OBJECTIVE_NAMES
from colorkeras.training.recipes import RECIPE_NAMES, RECOMMENDED, recipe_by_name
from colorkeras.training.run import model_file


# ------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------
def cmd_toy_city(args) -> int:
    paths = write_toy_city(args.out, per_class=args.per_class, size=args.size, seed=args.seed, progress=True)
    print(f"Wrote {len(paths)} toy-city images to {args.out}")
    return 0


def cmd_prepare(args) -> int:
    settings = PrepareSettings(image_size=args.size, seed=args.seed, val_fraction=args.val,
                               test_fraction=args.test, keep_grayscale=args.keep_grayscale,
                               keep_split=args.keep_split)
    *sources, out = [*args.source, args.out]
    report = prepare(sources if len(sources) > 1 else sources[0], out, settings, workers=args.workers,
                     overwrite=args.overwrite)
    print(report.to_text())
    return 0


def cmd_sun397(args) -> int:
    check = fetch_urban32(args.out, archive=args.archive, extracted=args.extracted, url=args.url,
                          force=args.force)
    print(check.to_text())
    return 0


def _announce_device() -> None:
    """One line naming the GPU a command runs on; nothing on a CPU-only machine."""
    line = device_line()
    if line:
        print(line, flush=True)


def cmd_embed(args) -> int:
    # Opened before TensorFlow starts: a misspelt path fails at once (DatasetError, one line).
    PreparedDataset.open(args.prepared)
    from colorkeras.training.embed import embed_dataset

    _announce_device()
    weights = None if args.weights == "random" else args.weights
    key = embed_dataset(args.prepared, args.extractor, weights, batch_size=args.batch_size,
                        extractor_size=args.extractor_size)
    print(f"Embeddings cached under {Path(args.prepared) / 'embeddings' / key}")
    return 0


def _train_config(args) -> TrainConfig:
    """The config `train` trains: the study's recipe for --model, else a named recipe
    (default: the recommended one), then --set and the flags."""
    base = TrainConfig.smoke if args.smoke else TrainConfig
    overrides = parse_overrides(args.set or [])
    if args.model is not None and args.recipe is not None:
        raise InvalidArgument("choose --model (the study's recipe for that family) or --recipe, not both")
    if args.model is not None:
        overrides["model"] = args.model
    else:
        recipe = recipe_by_name(args.recipe or RECOMMENDED)
        overrides = {**recipe.changes, **overrides}
        note = "" if args.recipe else (" (the recommended recipe, chosen on validation in results/quality; "
                                       "--recipe NAME for another, --model NAME for the study's recipe "
                                       "with another family)")
        print(f"recipe {recipe.name!r}: {recipe.summary}{note}", flush=True)
    for field in ("epochs", "batch_size", "image_size", "loss"):
        if getattr(args, field) is not None:
            overrides[field] = getattr(args, field)
    if args.extractor_weights is not None:
        overrides["extractor_weights"] = None if args.extractor_weights == "random" else args.extractor_weights
    return base(**overrides)


def cmd_train(args) -> int:
    config = _train_config(args)
    # Checked before TensorFlow starts: a misspelt path or a dataset too small fails at once.
    dataset = PreparedDataset.open(args.prepared)
    problem = data_size_problem(args.prepared, dataset.image_size, config.image_size)
    if problem:
        raise InvalidArgument(problem)
    from colorkeras.training.train import epochs_for_minutes, train

    _announce_device()
    if args.minutes is not None:
        config = config.replace(epochs=epochs_for_minutes(args.prepared, args.out, config, args.minutes))
    result = train(args.prepared, args.out, config, distribute=args.distribute)
    print(result.to_text())
    return 0


def cmd_evaluate(args) -> int:
    # Every run folder and the dataset, before TensorFlow starts or a model loads.
    check_inputs(args.run_dirs, args.data, args.split)
    _announce_device()
    for run_dir in args.run_dirs:
        evaluation = evaluate_run(run_dir, args.data, split=args.split, batch_size=args.batch_size,
                                  lpips_scorer=None if args.no_lpips else "auto", temperature=args.temperature)
        model, grey = evaluation.means[evaluation.label], evaluation.means[GREY_FLOOR]
        if args.temperature is not None and evaluation.record.get("temperature") is None:
            objective = (evaluation.record.get("objective") or {}).get("name", "regression")
            print(f"note: {run_dir} is a regression run (objective {objective}): --temperature has no effect")
        print(f"{run_dir}: {evaluation.label} PSNR {_number(model['psnr'], '.2f')} dB, MSE "
              f"{_number(model['mse'], '.4f')} (grey floor {_number(grey['psnr'], '.2f')} dB, "
              f"{_number(grey['mse'], '.4f')}): {grey_floor_verdict(model['psnr'], grey['psnr'])}, on "
              f"{evaluation.record['count']} {args.split} images of {evaluation.record['dataset_name']}; "
              f"per-image metrics in {evaluation.folder}")
    return 0


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)  # null: not finite (an inf PSNR)


def cmd_report(args) -> int:
    written = write_report(args.run_dirs, args.out, split=args.split, data_root=args.data,
                           overwrite=args.overwrite)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _named_model(name, reference=None) -> str:
    """The model a command runs: ``name`` (a run folder or a .keras file, checked to be
    there before anything loads; or a classical transfer, 'global' or 'welsh'), or the
    shipped default when it names none (with a ``reference``: the shipped exemplar model)."""
    if is_transfer_name(name):
        return name
    if name is not None:
        model_file(name)
        return name
    model = str(default_model_dir() if reference is None else exemplar_model_dir())
    print(f"model: the shipped {'default' if reference is None else 'exemplar'} ({model}; its card: "
          "MODEL_CARD.md there)", flush=True)
    return model


def _model_and_inputs(args) -> tuple[str, list]:
    """`colorize [MODEL] INPUT...`: a first item that is a model (a .keras file or a run
    folder) names it; otherwise (or with --model) every item is an input, and without a
    model the shipped default colorizes. A path that is not there is a mistake (a typo),
    said before any work: nothing is written."""
    items = list(args.inputs)
    model = args.model
    if model is None and len(items) > 1 and (looks_like_model(items[0]) or is_transfer_name(items[0])):
        model = items.pop(0)
    missing = [item for item in items if not Path(item).exists()]
    if missing:
        first_is_model = model is None and len(items) > 1 and missing[0] == items[0]
        hint = " (neither a photo, a video nor a model: a run folder or a .keras file)" if first_is_model else ""
        raise InvalidArgument(f"not found: {', '.join(missing)}{hint}")
    if model is None and len(items) == 1 and looks_like_model(items[0]):
        raise InvalidArgument(f"{items[0]} is a model: name the photos or videos to colorize after it")
    if args.reference is not None and not Path(args.reference).exists():
        raise InvalidArgument(f"not found: --reference {args.reference}")
    return _named_model(model, args.reference), items


def cmd_colorize(args) -> int:
    model, inputs = _model_and_inputs(args)
    # Videos (and, with --frames, folders of numbered frames) take the video path; every
    # other input is a photo or a folder of photos.
    videos = [item for item in inputs if is_video_input(item) or (args.frames and Path(item).is_dir())]
    photos = [item for item in inputs if item not in videos]
    if videos:
        photo_only = [f"--{name} {value}" for name, value in (("format", args.format), ("suffix", args.suffix))
                      if value not in (None, "")]
        if photo_only:
            print(f"note: {', '.join(photo_only)} applies to photos only; videos keep their container "
                  "(.mp4 .mov .mkv .webm; .avi -> .mkv; a .gif or frame folder -> .mp4)", flush=True)
    reports = []
    if photos:
        reports.append(colorize_paths(model, photos, args.out, overwrite=args.overwrite, fmt=args.format,
                                      suffix=args.suffix, batch_size=args.batch_size,
                                      chroma_upsampling=args.chroma, temperature=args.temperature,
                                      reference=args.reference))
    if videos:
        reports.append(colorize_video_paths(model, videos, args.out, temporal=args.temporal,
                                            keyframe_every=args.keyframe_every, overwrite=args.overwrite,
                                            chroma_upsampling=args.chroma, temperature=args.temperature,
                                            reference=args.reference))
    for report in reports:
        print(report.to_text())
    return 0 if all(report.ok for report in reports) else 1


def cmd_evaluate_video(args) -> int:
    # Before the model loads: a misspelt model or clip fails at once.
    model = _named_model(args.model)
    missing = [clip for clip in args.clips if not Path(clip).exists()]
    if missing:
        raise InvalidArgument(f"not found: {', '.join(missing)}")
    modes = ["off", "flow"] + (["keyframes"] if args.keyframe_every else [])
    for clip in args.clips:  # every folder checked before the first clip's work
        check_clip_folder(Path(args.out) / Path(clip).stem, args.overwrite)
    for clip in args.clips:
        evaluation = evaluate_clip(model, clip, modes, args.keyframe_every or 8)
        out = Path(args.out) / Path(clip).stem
        written = write_clip_evaluation(evaluation, out, overwrite=args.overwrite)
        print(evaluation.table())
        print(f"per-frame measures and the flicker chart in {written['per_frame'].parent}\n")
    return 0


def cmd_quality(args) -> int:
    check_sources(args.train_source, args.ood)  # both, before any preparation
    _announce_device()
    result = run_grid(args.train_source, args.ood, args.out, form=args.form, report=args.report,
                      recipes=args.recipes, overwrite=args.overwrite)
    accurate, vivid = result["selection"]["accurate"], result["selection"]["vivid"]
    print(f"selected on validation: accurate {setting_name(accurate)}, "
          f"vivid {setting_name(vivid) if vivid else 'none (no setting above the grey floor)'}")
    print(f"table, figures and selection in {result['written']['markdown'].parent}")
    return 0


def cmd_demo(args) -> int:
    _announce_device()
    return run_demo(args.out, quick=args.quick)


def cmd_app(args) -> int:
    serve(args.model, args.host, args.port, share=args.share, max_pixels=int(args.max_megapixels * 1e6),
          max_clip_seconds=args.max_seconds)
    return 0


# ------------------------------------------------------------------------------------
# Argument types and shared help
# ------------------------------------------------------------------------------------
class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows each option's default where there is one to show (not None, False or "")."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == "" or default == argparse.SUPPRESS)
        if shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


VIDEO_LIMIT = (f"{MAX_VIDEO_PIXELS / 1e6:.0f} MP ({MAX_VIDEO_PIXELS:,} pixels, e.g. 8K UHD 7680x4320); "
               "larger videos are refused")


def _temperature(text: str) -> float:
    """--temperature: a finite number > 0 (0, negatives, nan and inf are refused here)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _at_least_one(text: str) -> int:
    """A whole number >= 1 (--keyframe-every)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


TEMPERATURE_HELP = ("decode temperature of a classification run: 1 the mean (accurate), smaller towards "
                    "the mode (vivid); default: the run's (0.38); a finite number > 0; regression runs have "
                    "none (a note says so)")


OVERWRITE_HELP = ("also replace files of the output's names that {command} did not write (without it they "
                  "are refused; its own, recorded in the folder's hidden .colorkeras-written.json, are "
                  "always replaced)")


# ------------------------------------------------------------------------------------
# The parser: one add_* per subcommand
# ------------------------------------------------------------------------------------
def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole path on the embedded toy city: prepare, train, evaluate, report")
    p.add_argument("--out", default="demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="a much shorter run (for tests)")
    p.set_defaults(func=cmd_demo)


def add_toy_city(sub) -> None:
    p = sub.add_parser("toy-city", help="write the synthetic toy-city image folder")
    p.add_argument("out", help="output folder (one sub-folder per scene class, and toy_city.json marking "
                               "it synthetic); a file there that toy-city did not write is never replaced")
    p.add_argument("--per-class", type=int, default=100, help="images per scene class")
    p.add_argument("--size", type=int, default=64, help="side of the square images in pixels")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenes (same seed, same images)")
    p.set_defaults(func=cmd_toy_city)


def add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="image folder (class sub-folders) -> prepared dataset")
    p.add_argument("source", nargs="+", help="folder with one sub-folder per class (or train/test/<class>); "
                                           "several: one dataset, classes named source:class")
    p.add_argument("out", help="prepared dataset folder")
    p.add_argument("--size", type=int, default=256, help="square side of the arrays, a multiple of 8")
    p.add_argument("--seed", type=int, default=0, help="seed of the 80/10/10 per-class split")
    p.add_argument("--val", type=float, default=0.1, help="validation fraction per class")
    p.add_argument("--test", type=float, default=0.1,
                   help="test fraction per class (--val 0 --test 1: all images for testing, "
                        "to evaluate a trained model on a new labelled set)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--keep-grayscale", action="store_true", help="keep sources without colour")
    p.add_argument("--keep-split", action="store_true",
                   help="keep each source's own test/ (and val/) folder as its split; --val is drawn from its "
                        "train/ only (video frames: no neighbouring frames across train and test)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset prepared with other settings "
                                                           "(never a folder that is not a prepared dataset, nor "
                                                           "one holding files prepare did not write)")
    p.set_defaults(func=cmd_prepare)


def add_sun397(sub) -> None:
    p = sub.add_parser("sun397", help="fetch SUN397's 32 urban classes (streams the archive)")
    p.add_argument("out", help="output folder (one sub-folder per class)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--archive", help="a local SUN397.tar.gz instead of the download")
    source.add_argument("--extracted", help="an unpacked SUN397 folder")
    p.add_argument("--url", default=SUN397_URL, help="archive URL")
    p.add_argument("--force", action="store_true", help="read the source again after a complete fetch")
    p.set_defaults(func=cmd_sun397)


def add_embed(sub) -> None:
    p = sub.add_parser("embed", help="cache a frozen extractor's outputs for a prepared dataset")
    p.add_argument("prepared", help="prepared dataset folder (from `colorkeras prepare`)")
    p.add_argument("--extractor", choices=("inception_v3", "vit_b16"), required=True, help="the frozen extractor")
    p.add_argument("--weights", default="imagenet", help="imagenet, a local path, or random")
    p.add_argument("--batch-size", type=int, default=32, help="images per extractor call")
    p.add_argument("--extractor-size", choices=("base", "tiny"), default="base",
                   help="tiny: a small random ViT, for tests only")
    p.set_defaults(func=cmd_embed)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a prepared dataset (resumes if interrupted)")
    study = TrainConfig()
    p.add_argument("prepared", help="prepared dataset folder (from `colorkeras prepare`)")
    p.add_argument("--model", choices=MODEL_NAMES,
                   help="a model family with the study's recipe (MSE unless --loss); without --model and "
                        "--recipe, the recommended recipe is trained")
    p.add_argument("--recipe", choices=RECIPE_NAMES,
                   help=f"a named recipe of the quality ablation (results/quality); default: {RECOMMENDED!r}, "
                        "the recipe chosen there on validation")
    p.add_argument("--out", required=True, help="run folder (created; rerun the same command to resume)")
    p.add_argument("--smoke", action="store_true",
                   help="start from the CPU smoke recipe (64 px, 2 epochs, 128 images) instead of the study's")
    p.add_argument("--epochs", type=int, help=f"passes over the training split (study: {study.epochs})")
    p.add_argument("--batch-size", type=int, help=f"images per step (study: {study.batch_size})")
    p.add_argument("--image-size", type=int,
                   help=f"side of the training images; must equal the prepared data's (study: {study.image_size})")
    p.add_argument("--loss", choices=OBJECTIVE_NAMES, help=f"the objective (study: {study.loss})")
    p.add_argument("--extractor-weights", help="imagenet (the default), a local path, or random")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any TrainConfig field, e.g. --set learning_rate=3e-4 --set augment=false (repeatable)")
    p.add_argument("--distribute", action="store_true", help="data parallel over all accelerators")
    p.add_argument("--minutes", type=float, default=None,
                   help="train for about this long: the epochs follow from the training speed measured "
                        "here before the run starts (a resumed run keeps the epochs it started with)")
    p.set_defaults(func=cmd_train)


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="per-image metrics of trained runs and the grey floor")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (from `colorkeras train`)")
    p.add_argument("--data", required=True, help="prepared dataset to evaluate on")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="which split")
    p.add_argument("--batch-size", type=int, default=32, help="images per model call")
    p.add_argument("--no-lpips", action="store_true", help="leave the LPIPS column empty")
    p.add_argument("--temperature", type=_temperature, default=None, help=TEMPERATURE_HELP)
    p.set_defaults(func=cmd_evaluate)


def add_evaluate_video(sub) -> None:
    p = sub.add_parser("evaluate-video", help="flicker and per-frame quality of video colorization on colour "
                                              "clips, per temporal mode, beside the grey floor")
    p.add_argument("model", help="a saved model (.keras) or a run folder")
    p.add_argument("clips", nargs="+", metavar="CLIP",
                   help="colour video files or frame folders (the truth); frames up to " + VIDEO_LIMIT)
    p.add_argument("--out", required=True, help="folder for per_frame.csv, summary.json, table.md, flicker.png")
    p.add_argument("--keyframe-every", type=_at_least_one, metavar="K",
                   help="also measure keyframe mode with this K (a whole number >= 1)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(command="evaluate-video"))
    p.set_defaults(func=cmd_evaluate_video)


def add_quality(sub) -> None:
    p = sub.add_parser("quality", help="the quality ablation: train, evaluate and tabulate every recipe "
                                       "(in domain, out of domain, grey floor)")
    p.add_argument("train_source", help="image folder to train on (class sub-folders, or train/test/<class>)")
    p.add_argument("--ood", required=True, help="image folder from another city or camera, evaluated only")
    p.add_argument("--form", choices=("quick", "full", "tiny"), default="quick",
                   help="quick: 48 px for 2 CPU cores (about 25 min); full: the study's 256 px on one GPU; "
                        "tiny: seconds, for tests")
    p.add_argument("--out", required=True, help="folder for the prepared data and the runs (rerun to resume)")
    p.add_argument("--report", help="folder for table.md, table.csv, the figures and selection.json "
                                    "(default: OUT/report)")
    p.add_argument("--recipes", nargs="+", metavar="NAME", help="only these recipes (default: all)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(command="quality") + " (--report)")
    p.set_defaults(func=cmd_quality)


def add_report(sub) -> None:
    p = sub.add_parser("report", help="tables and figures from evaluated runs")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="evaluated run folders")
    p.add_argument("--out", required=True, help="report folder (Markdown, HTML, CSV, figures)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="which evaluated split")
    p.add_argument("--data", help="the prepared dataset to report on: needed when a run was evaluated on "
                                  "several datasets (it chooses the evaluation), and when the dataset moved "
                                  "since evaluation (for the figures)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(command="report"))
    p.set_defaults(func=cmd_report)


def add_colorize(sub) -> None:
    p = sub.add_parser("colorize", help="colorize photos at full resolution")
    p.add_argument("inputs", nargs="+", metavar="[MODEL] INPUT",
                   help="optionally first a saved model (.keras), a run folder or, with --reference, 'global' or "
                        "'welsh' (classical colour transfers; default: the model that ships with colorkeras), "
                        "then image files, videos or folders; photos over 120 MP are "
                        "skipped (each megapixel takes about 0.4 s and 30 MB of memory: 40 s and 3 GB for a "
                        "100 MP photo)")
    p.add_argument("--model", default=None,
                   help="the model, when the first input could be mistaken for one (default: the shipped model)")
    p.add_argument("--out", required=True,
                   help="output folder; its hidden .colorkeras-colorize.json records what colorize wrote")
    p.add_argument("--format", choices=("png", "jpg", "tif", "webp", "bmp"), default=None,
                   help="output format (default: as the input)")
    p.add_argument("--suffix", default="", help="added to each output file name, e.g. _color")
    p.add_argument("--batch-size", type=int, default=8, help="photos per model call")
    p.add_argument("--chroma", choices=("auto", "guided", "resize"), default="auto",
                   help="photos and films: how the model-size colour reaches the photo's size: guided (a guided filter "
                        "steered by the photo's own lightness, so colour keeps to its edges), resize "
                        "(plain bilinear), or auto (guided for photos at least 3x the model's size)")
    p.add_argument("--temperature", type=_temperature, default=None, help=TEMPERATURE_HELP)
    p.add_argument("--reference", default=None, metavar="PHOTO_OR_FOLDER",
                   help="colour from a reference: a colour photo of the place (or a coloured frame of the film), "
                        "or a folder of them (each input gets the most similar, named in the report); for an "
                        "exemplar model (default: the shipped one), 'global' or 'welsh'")
    p.add_argument("--overwrite", action="store_true",
                   help="redo outputs colorize wrote before; files it did not write are never replaced")
    video = p.add_argument_group("video (.mp4 .mov .avi .mkv .webm, animated .gif; same size, frame rate, "
                                 "frame count and audio; frames up to " + VIDEO_LIMIT + ")")
    video.add_argument("--temporal", choices=("off", "flow"), default="flow",
                       help="off: each frame on its own; flow: carry colour along the optical flow, "
                            "reset at scene cuts (no flicker)")
    video.add_argument("--keyframe-every", type=_at_least_one, metavar="K",
                       help="run the model only on every K-th frame, at scene cuts and where the flow "
                            "is unsure, and carry colour along the flow in between (several times faster)")
    video.add_argument("--frames", action="store_true",
                       help="treat each folder INPUT as the numbered frames of one video (25 fps)")
    p.set_defaults(func=cmd_colorize)


def add_app(sub) -> None:
    """The `app` subcommand: the Gradio page (colorkeras/app.py)."""
    p = sub.add_parser("app", help="a page to colorize photos and films in the browser (Gradio; Colab too)")
    p.add_argument("--model", action="append", metavar="RUN_OR_MODEL",
                   help="a run folder or .keras file to offer (repeat for several; the first is preselected); "
                        "the shipped default is offered too where installed")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also a public gradio.live link (needs the internet)")
    p.add_argument("--max-megapixels", type=float, default=APP_MAX_PIXELS / 1e6,
                   help="photos above this are refused before decoding")
    p.add_argument("--max-seconds", type=float, default=MAX_CLIP_SECONDS, help="films above this are refused")
    p.set_defaults(func=cmd_app)


# The subcommands in the order `colorkeras --help` lists them.
SUBCOMMANDS = (add_demo, add_toy_city, add_prepare, add_sun397, add_embed, add_train, add_evaluate,
               add_evaluate_video, add_quality, add_report, add_colorize, add_app)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorkeras",
        description="Colorize grayscale photographs of cities (Keras 3). "
                    "Start with `colorkeras demo`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Every subcommand shows its defaults in --help.
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=_DefaultsHelpFormatter)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _version() -> str:
    try:
        return version("colorkeras")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown (not installed)"


def main(argv=None) -> int:
    quiet_tensorflow_startup()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ColorkerasError as error:
        print(f"colorkeras {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # The machine said no (permissions, a full disk, a path that is a file): the
        # message names the path; a traceback would only hide it.
        print(f"colorkeras {args.command}: error: {_describe_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to continue", file=sys.stderr)
        return 130


def _describe_os_error(error: OSError) -> str:
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
    reason = error.strerror or str(error)
    return f"{reason}: {where}" if where else reason


if __name__ == "__main__":
    sys.exit(main())
