"""Helpers for the notebooks in ``notebooks/``: environment, parameters, figures.

The notebooks only orchestrate: each cell calls the package. Whatever a notebook needs
beyond a single call (where the working folder is, what smoke mode changes, a chart of
class counts, a learning curve, before/after pairs) lives here, so that it is tested.

Smoke mode (``COLORKERAS_SMOKE=1``) runs every notebook on the toy city at 32 px for one
epoch with random extractor weights and no downloads; CI executes the notebooks that way
(``tests/test_notebooks.py``). ``COLORKERAS_WORKDIR`` names the folder they share.

Figures are built with matplotlib's object API (no pyplot state) and returned; a notebook
shows one by ending a cell with it (after ``%matplotlib inline``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorkeras.errors import InvalidArgument
from colorkeras.config import TrainConfig
# The learning curve is drawn by the report too; it lives there, once.
from colorkeras.report import learning_curve_figure, read_log  # noqa: F401 - re-exported

SMOKE_ENV = "COLORKERAS_SMOKE"
WORKDIR_ENV = "COLORKERAS_WORKDIR"
# Relative on purpose: in Colab it lands in /content, locally in the folder Jupyter runs in.
DEFAULT_WORKDIR = "colorkeras-work"
# Where Colab mounts Google Drive, and our folder inside "My Drive".
DRIVE_MOUNT_POINT = "/content/drive"
DRIVE_FOLDER = "MyDrive/colorkeras"

# Smoke mode: small enough that all four notebooks run in about a minute on 2 CPU cores,
# large enough that every step has real work (4 classes x 12 images -> 40/4/4 split).
SMOKE_IMAGE_SIZE = 32
SMOKE_EPOCHS = 1
SMOKE_BATCH_SIZE = 8  # one batch must fit in the 40 training images
SMOKE_IMAGES_PER_CLASS = 12
SMOKE_SOURCE_SIZE = 48  # larger than the prepared size, as real photos are
SMOKE_PHOTO_SIZE = (96, 72)  # (width, height) of the stand-in "old photos": not square

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_MARKDOWN_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)\s*$")


# ------------------------------------------------------------------------------------
# Environment
# ------------------------------------------------------------------------------------
def in_colab() -> bool:
    """True inside Google Colab (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def smoke_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``COLORKERAS_SMOKE`` asks for smoke mode ("1", "true", "yes", "on").

    Raises:
        ValueError: a value that is neither a yes nor a no, so a typo is not ignored.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(SMOKE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"{SMOKE_ENV}={value!r}: expected 1/true/yes/on or 0/false/no/off")


def gpu_names() -> list[str]:
    """The GPUs the Keras backend sees, with compute capability where known."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            name = details.get("device_name", gpu.name)
            capability = details.get("compute_capability")
            names.append(f"{name} (compute capability {capability[0]}.{capability[1]})" if capability else name)
        return names
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    return []


def describe_accelerator() -> str:
    """What will run the models: backend, GPUs, and the precision training will use."""
    import keras

    from colorkeras.train import resolve_precision

    gpus = gpu_names()
    lines = [f"Keras {keras.__version__}, backend {keras.backend.backend()}."]
    if gpus:
        lines.append("GPU: " + "; ".join(gpus) + ".")
        lines.append(f"Training precision: {resolve_precision('auto')} (chosen for this GPU).")
    else:
        advice = ("In Colab: Runtime > Change runtime type > T4 GPU, then run the notebook again."
                  if in_colab() else "Training the study's recipe needs a GPU.")
        lines.append("No GPU found: everything runs on the CPU. That is fine for the smoke run and "
                     f"for colorizing a few photos. {advice}")
    return "\n".join(lines)


def mount_drive(mount_point: str = DRIVE_MOUNT_POINT) -> Path:
    """Mount Google Drive in Colab (it asks for permission) and return our folder on it.

    Raises:
        ValueError: outside Colab, where there is no Drive to mount.
    """
    if not in_colab():
        raise InvalidArgument(
            "USE_DRIVE = True works in Google Colab only. Elsewhere set WORKDIR (or the "
            f"environment variable {WORKDIR_ENV}) to the folder you want to use."
        )
    from google.colab import drive

    drive.mount(mount_point)
    return Path(mount_point) / DRIVE_FOLDER


def resolve_workdir(
    workdir=None,
    *,
    use_drive: bool = False,
    environ: Mapping[str, str] | None = None,
    mount: Callable[[], Path] = mount_drive,
) -> Path:
    """The notebooks' shared working folder, created, as an absolute path.

    In order: ``workdir`` if given; our folder on Google Drive if ``use_drive`` (Drive is
    mounted first, also when ``workdir`` points into it); ``$COLORKERAS_WORKDIR``;
    ``./colorkeras-work``.
    """
    environ = os.environ if environ is None else environ
    drive_folder = mount() if use_drive else None
    if workdir is not None:
        path = Path(workdir)
    elif drive_folder is not None:
        path = drive_folder
    elif environ.get(WORKDIR_ENV):
        path = Path(environ[WORKDIR_ENV])
    else:
        path = Path(DEFAULT_WORKDIR)
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookParams:
    """Where everything is and what to train, after smoke mode and defaults are applied.

    Args:
        smoke: toy city, tiny images, one epoch, random extractor weights.
        workdir: the folder all four notebooks share.
        data_root: image folders and prepared datasets.
        run_root: one run folder per model.
        model: "baseline", "inception_fusion" or "vit_fusion".
        epochs: training epochs.
        image_size: side of the prepared images and of the model input.
        photos_dir: your own photos to colorize (04).
        colorized_dir: where their colour versions go (04).
    """

    smoke: bool
    workdir: Path
    data_root: Path
    run_root: Path
    model: str
    epochs: int
    image_size: int
    photos_dir: Path
    colorized_dir: Path

    @property
    def dataset_name(self) -> str:
        return "toy_city" if self.smoke else "sun397_urban32"

    @property
    def source_dir(self) -> Path:
        """The image folder (one sub-folder per class) that gets prepared."""
        return self.data_root / self.dataset_name

    @property
    def prepared_dir(self) -> Path:
        return self.data_root / f"{self.dataset_name}_{self.image_size}px"

    @property
    def report_dir(self) -> Path:
        return self.workdir / "report"

    def run_dir(self, model: str | None = None) -> Path:
        return self.run_root / (model or self.model)

    def train_config(self) -> TrainConfig:
        """The study's recipe, or in smoke mode its CPU-sized variant with random extractor weights."""
        if self.smoke:
            # Random weights: CI is offline. The tiny ViT keeps the ViT path but not its cost.
            return TrainConfig.smoke(
                model=self.model, image_size=self.image_size, epochs=self.epochs,
                batch_size=SMOKE_BATCH_SIZE, extractor_weights=None,
                extractor_size="tiny" if self.model == "vit_fusion" else "base",
            )
        return TrainConfig(model=self.model, image_size=self.image_size, epochs=self.epochs)

    def to_text(self) -> str:
        mode = ("SMOKE mode: toy city, tiny images, one epoch, random extractor weights"
                if self.smoke else "full mode: SUN397 urban-32 and the study's recipe")
        return "\n".join([
            mode,
            f"  working folder: {self.workdir}",
            f"  data:           {self.data_root}",
            f"  runs:           {self.run_root}",
            f"  model:          {self.model}, {self.epochs} epoch(s) at {self.image_size}x{self.image_size}",
        ])


def resolve_params(
    *,
    smoke: bool,
    workdir=None,
    use_drive: bool = False,
    data_root=None,
    run_root=None,
    model: str = "baseline",
    epochs: int = 50,
    image_size: int = 256,
    photos=None,
    colorized=None,
    environ: Mapping[str, str] | None = None,
    mount: Callable[[], Path] = mount_drive,
) -> NotebookParams:
    """Turn a notebook's parameter cell into :class:`NotebookParams`.

    Smoke mode overrides ``image_size`` (32) and ``epochs`` (1). Relative folders are
    taken inside the working folder (see :func:`resolve_workdir`).
    """
    from colorkeras.models.registry import MODEL_NAMES

    if model not in MODEL_NAMES:
        raise InvalidArgument(f"MODEL = {model!r}: choose one of {', '.join(MODEL_NAMES)}")
    if smoke:
        epochs, image_size = SMOKE_EPOCHS, SMOKE_IMAGE_SIZE
    if int(epochs) < 1:
        raise InvalidArgument(f"EPOCHS must be at least 1, got {epochs}")
    if int(image_size) < 8 or int(image_size) % 8:
        raise InvalidArgument(f"IMAGE_SIZE must be a multiple of 8, got {image_size}")
    root = resolve_workdir(workdir, use_drive=use_drive, environ=environ, mount=mount)

    def inside(value, default: str) -> Path:
        path = Path(value).expanduser() if value is not None else Path(default)
        return path if path.is_absolute() else root / path

    return NotebookParams(
        smoke=bool(smoke), workdir=root, data_root=inside(data_root, "data"),
        run_root=inside(run_root, "runs"), model=model, epochs=int(epochs),
        image_size=int(image_size), photos_dir=inside(photos, "my_photos"),
        colorized_dir=inside(colorized, "colorized"),
    )


# ------------------------------------------------------------------------------------
# 01: data
# ------------------------------------------------------------------------------------
def get_source_images(params: NotebookParams, *, archive=None, extracted=None, folder=None,
                      progress: bool = True) -> Path:
    """The image folder to prepare: the toy city (smoke), your copy, or SUN397 urban-32.

    Args:
        params: the notebook's parameters.
        archive: a local ``SUN397.tar.gz`` to read instead of streaming the official one.
        extracted: an unpacked SUN397 folder.
        folder: an urban-32 folder made earlier (one sub-folder per class): used as is.
        progress: show progress bars.

    A finished fetch (``sun397_report.json`` says complete) is not repeated: streaming
    the 39 GB archive again would only confirm what is there.
    """
    from colorkeras.data.sun397 import REPORT_NAME, fetch_urban32

    if params.smoke:
        from colorkeras.data.synthetic import write_toy_city

        paths = write_toy_city(params.source_dir, per_class=SMOKE_IMAGES_PER_CLASS,
                               size=SMOKE_SOURCE_SIZE, seed=0)
        print(f"Toy city: {len(paths)} synthetic images in {params.source_dir}")
        return params.source_dir
    if folder is not None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"URBAN32_FOLDER {folder} does not exist (is Drive mounted?)")
        print(f"Using the images in {folder}")
        return folder
    report = params.source_dir / REPORT_NAME
    if report.is_file() and json.loads(report.read_text(encoding="utf-8")).get("complete"):
        print(f"SUN397 urban-32 was already fetched into {params.source_dir}; "
              f"delete {report.name} there to fetch again.")
        return params.source_dir
    check = fetch_urban32(params.source_dir, archive=archive, extracted=extracted, progress=progress)
    print(check.to_text())
    return params.source_dir


def class_counts(prepared) -> dict[str, dict[str, int]]:
    """class -> split -> number of images, from a prepared dataset's manifest."""
    from colorkeras.data.pipeline import PreparedDataset
    from colorkeras.data.prepare import SPLITS

    dataset = PreparedDataset.open(prepared)
    counts = {name: dict.fromkeys(SPLITS, 0) for name in dataset.classes}
    for row in dataset.manifest():
        counts[row["class"]][row["split"]] += 1
    return counts


def class_count_figure(prepared):
    """A horizontal bar per class, stacked by split (train / val / test)."""
    from matplotlib.figure import Figure

    counts = class_counts(prepared)
    names = sorted(counts)
    splits = list(next(iter(counts.values())))
    figure = Figure(figsize=(7.0, 1.2 + 0.28 * len(names)), layout="constrained")
    axes = figure.subplots()
    left = np.zeros(len(names))
    for split in splits:
        values = np.array([counts[name][split] for name in names])
        axes.barh(names, values, left=left, label=split)
        left += values
    axes.invert_yaxis()  # alphabetical from the top
    axes.set_xlabel("images")
    figure.legend(loc="outside right upper")
    axes.set_title(f"Images per class and split ({int(left.sum())} in total)")
    return figure


def _sample_rows(labels: list[str], count: int, seed: int) -> list[int]:
    """Up to ``count`` rows, one class after another, a random image of each class."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    queues = {name: list(rng.permutation(rows)) for name, rows in sorted(by_class.items())}
    chosen: list[int] = []
    while len(chosen) < count and any(queues.values()):
        for rows in queues.values():
            if rows and len(chosen) < count:
                chosen.append(int(rows.pop()))
    return chosen


def sample_grid_figure(prepared, split: str = "train", count: int = 8, seed: int = 0):
    """Prepared images: what the model sees (L, top) over what it must find (colour, bottom)."""
    from matplotlib.figure import Figure

    from colorkeras import color
    from colorkeras.data.pipeline import PreparedDataset

    dataset = PreparedDataset.open(prepared)
    labels = dataset.labels(split)
    if not labels:
        raise InvalidArgument(f"{dataset.root}: the {split} split has no images")
    rows = _sample_rows(labels, count, seed)
    l_array, ab_array = dataset.arrays(split)
    figure = Figure(figsize=(1.6 * len(rows), 3.6), layout="constrained")
    axes = np.asarray(figure.subplots(2, len(rows), squeeze=False))
    for column, row in enumerate(rows):
        l_norm, ab_norm = color.stored_to_normalized(
            np.asarray(l_array[row], np.float32), np.asarray(ab_array[row], np.float32))
        grey = color.predicted_ab_to_rgb(l_norm, np.zeros_like(ab_norm))
        for ax, image in zip(axes[:, column], (grey, color.predicted_ab_to_rgb(l_norm, ab_norm))):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, column].set_title(labels[row], fontsize=8)
    axes[0, 0].set_ylabel("input: L")
    axes[1, 0].set_ylabel("target: colour")
    figure.suptitle(f"{split} images at {dataset.image_size}x{dataset.image_size}")
    return figure


# ------------------------------------------------------------------------------------
# 02: training
# ------------------------------------------------------------------------------------
def cache_embeddings(params: NotebookParams, *, batch_size: int = 32, progress: bool = True) -> str | None:
    """Cache the frozen extractor's outputs for a fusion model; return the cache key.

    Nothing to do for the baseline. With random extractor weights (smoke mode) nothing is
    cached here either: a random extractor built here would not be the one inside the
    trained model, so ``train`` caches the outputs of the model's own extractor instead.
    """
    from colorkeras.models.registry import EXTRACTOR_OF

    config = params.train_config()
    extractor = EXTRACTOR_OF[config.model]
    if extractor is None:
        print("The baseline uses no extractor: nothing to cache.")
        return None
    if config.extractor_weights is None:
        print("Random extractor weights (smoke mode): training caches the outputs of the "
              "model's own extractor.")
        return None
    from colorkeras.embed import embed_dataset

    key = embed_dataset(params.prepared_dir, extractor, config.extractor_weights,
                        batch_size=batch_size, extractor_size=config.extractor_size, progress=progress)
    print(f"{extractor} outputs cached in {params.prepared_dir / 'embeddings' / key}")
    return key


# ------------------------------------------------------------------------------------
# 03: evaluation
# ------------------------------------------------------------------------------------
def find_runs(run_root) -> list[Path]:
    """The run folders directly under ``run_root`` that hold a trained ``best.keras``."""
    root = Path(run_root)
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if (path / "best.keras").is_file())


def evaluate_runs(params: NotebookParams, names=None, *, split: str = "test",
                  progress: bool = True) -> list[Path]:
    """Evaluate runs on the prepared test split; return their folders.

    Args:
        params: the notebook's parameters.
        names: run folder names under ``run_root`` (e.g. ``["baseline"]``); default:
            every run there that holds a ``best.keras``.
        split: the split to evaluate.
        progress: show progress bars.

    LPIPS is computed in full mode (its AlexNet weights are downloaded once) and skipped
    in smoke mode, which must not download anything.
    """
    from colorkeras.evaluate import evaluate_run

    runs = find_runs(params.run_root) if names is None else [params.run_dir(name) for name in names]
    if not runs:
        raise FileNotFoundError(f"No trained run (a folder with best.keras) under {params.run_root}: "
                                "train one with 02_train first.")
    scorer = None
    if not params.smoke:
        from colorkeras.metrics import LpipsScorer

        scorer = LpipsScorer(pretrained=True)
        if not scorer.available:
            print(f"LPIPS will be n/a: {scorer.reason}")
    for run in runs:
        evaluate_run(run, params.prepared_dir, split=split, lpips_scorer=scorer, progress=progress)
    return runs


def report_parts(markdown_path) -> list:
    """A Markdown report as IPython display objects, with its figures as inline images.

    A notebook shows Markdown but not the images it links relatively, so each image line
    becomes an ``IPython.display.Image`` of the file beside the report.
    """
    from IPython.display import Image, Markdown

    path = Path(markdown_path)
    parts: list = []
    text: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _MARKDOWN_IMAGE.match(line)
        if match is None:
            text.append(line)
            continue
        if any(t.strip() for t in text):
            parts.append(Markdown("\n".join(text)))
        text = []
        parts.append(Markdown(f"*{match['alt']}*"))
        parts.append(Image(filename=str(path.parent / match["src"])))
    if any(t.strip() for t in text):
        parts.append(Markdown("\n".join(text)))
    return parts


def show_report(markdown_path) -> None:
    """Display a Markdown report with its figures in the notebook."""
    from IPython.display import display

    for part in report_parts(markdown_path):
        display(part)


def study_comparison_markdown(run_dirs, split: str = "test") -> str:
    """Our runs next to the grey floor and the study's published table, as Markdown.

    On SUN397 urban-32 the study's rows sit in our overall table. On any other data they
    are shown apart, labelled as not comparable, so no one reads them as a result.
    """
    from colorkeras.report import (
        REPORTED_BY_STUDY,
        STUDY_CITATION,
        STUDY_OVERALL,
        format_overall_table,
        load_results,
        markdown_table,
        overall_rows,
    )

    data = load_results(run_dirs, split)
    parts = ["### Our runs, the grey floor" + (" and the study" if data.sun397 else ""), "",
             format_overall_table(data), ""]
    ours = [row for row in overall_rows(data) if row["source"] == "ours"]
    grey = ours[-1]  # overall_rows lists the models first, then the grey floor
    gains = [f"- **{row['model']}**: {row['psnr'] - grey['psnr']:+.2f} dB PSNR and "
             f"{grey['mse'] - row['mse']:+.4f} MSE reduction over the grey floor"
             for row in ours[:-1]]
    parts += ["Gain over the grey floor (ab = 0), overall:", "", *gains, ""]
    if not data.sun397:
        study = [[model, f"{psnr:.2f}", f"{ssim:.4f}", f"{lpips:.4f}", f"{mse:.4f}"]
                 for model, psnr, ssim, lpips, mse in STUDY_OVERALL]
        parts += [
            f"### The study's table ({REPORTED_BY_STUDY}; not comparable here)", "",
            f"Published by {STUDY_CITATION} for SUN397 urban-32 at 256x256. These runs are on other "
            "images, so compare them with the grey floor above, not with these numbers.", "",
            markdown_table(["Model", "PSNR (dB) ↑", "SSIM ↑", "LPIPS ↓", "MSE ↓"], study),
        ]
    return "\n".join(parts).rstrip() + "\n"


# ------------------------------------------------------------------------------------
# 04: your own photos
# ------------------------------------------------------------------------------------
def write_smoke_photos(folder, count: int = 3, size: tuple[int, int] = SMOKE_PHOTO_SIZE,
                       seed: int = 0) -> list[Path]:
    """Stand-ins for old photos: toy-city scenes, made grayscale, saved as JPEG.

    Each is ``size`` = (width, height) pixels, larger than the smoke model's input and not
    square, so the full-resolution path is exercised as with a real scan.
    """
    from PIL import Image

    from colorkeras.data.synthetic import SCENE_CLASSES, render_scene

    width, height = size
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        scene = SCENE_CLASSES[index % len(SCENE_CLASSES)]
        square = render_scene(scene, size=max(width, height), seed=seed, index=index)
        top, left = (square.shape[0] - height) // 2, (square.shape[1] - width) // 2
        photo = Image.fromarray(square[top:top + height, left:left + width]).convert("L")
        path = folder / f"old_{scene}_{index:02d}.jpg"
        photo.save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def collect_photos(params: NotebookParams, *, upload: bool = False, files_module=None) -> list[Path]:
    """The photos to colorize in ``params.photos_dir``, after adding any new ones.

    Smoke mode writes a few grayscale stand-ins there; ``upload`` opens Colab's file
    picker. Raises FileNotFoundError, saying where to put photos, when there are none.
    """
    from colorkeras.images import list_images

    if params.smoke:
        write_smoke_photos(params.photos_dir)
    elif upload:
        upload_photos(params.photos_dir, files_module)
    params.photos_dir.mkdir(parents=True, exist_ok=True)
    photos = list_images(params.photos_dir)
    if not photos:
        raise FileNotFoundError(
            f"No photos in {params.photos_dir}. Copy your scans there (in Colab: the Files panel "
            "on the left, or Google Drive with USE_DRIVE = True), or set UPLOAD = True, then run "
            "this cell again."
        )
    print(f"{len(photos)} photo(s) in {params.photos_dir}")
    return photos


def upload_photos(folder, files_module=None) -> list[Path]:
    """Colab only: pick photos on your computer; they are saved into ``folder``.

    Args:
        folder: where the uploads go (created).
        files_module: ``google.colab.files`` (default); replaceable for tests.
    """
    if files_module is None:
        if not in_colab():
            raise InvalidArgument("Uploading from the browser works in Colab only; copy your photos "
                             f"into {folder} instead.")
        from google.colab import files as files_module
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, content in files_module.upload().items():
        target = folder / Path(name).name  # never a path from the browser, only its base name
        target.write_bytes(content)
        saved.append(target)
    return saved


def before_after_pairs(inputs, out_dir, *, suffix: str = "", fmt: str | None = None) -> list[tuple[Path, Path]]:
    """(photo, colorized copy) for every photo of ``inputs`` that has one in ``out_dir``.

    Give the same ``inputs``, ``suffix`` and ``fmt`` as to ``colorize_paths``.
    """
    from colorkeras.colorize import plan_outputs

    jobs, _ = plan_outputs(list(inputs), out_dir, suffix=suffix, fmt=fmt)
    return [(source, target) for source, target in jobs if target.is_file()]


def before_after_figure(pairs, limit: int = 6):
    """Each photo beside its colorized copy, with the pixel size of both."""
    from matplotlib.figure import Figure

    from colorkeras.images import read_rgb

    pairs = list(pairs)[:limit]
    if not pairs:
        raise InvalidArgument("no colorized photos to show: run the colorize cell first")
    figure = Figure(figsize=(9.0, 3.4 * len(pairs)), layout="constrained")
    axes = np.asarray(figure.subplots(len(pairs), 2, squeeze=False))
    for (source, target), (left, right) in zip(pairs, axes):
        for ax, path, title in ((left, source, "before"), (right, target, "after")):
            image = read_rgb(path)
            ax.imshow(image)
            ax.set_title(f"{title}: {Path(path).name} ({image.shape[1]}x{image.shape[0]})", fontsize=9)
            ax.axis("off")
    return figure
