"""What only the notebooks in ``notebooks/`` need: their parameters, their working folder,
Colab's Drive and file picker, and the few steps a notebook takes in one line.

The notebooks only orchestrate: each cell calls the package. Figures and the report come
from ``colorkeras.evaluation.report``, the accelerator check from ``colorkeras.runtime``; what is
left here is what no other module has a use for (where the working folder is, what smoke
mode changes, how photos get in), so that it is tested.

Smoke mode (``COLORKERAS_SMOKE=1``) runs every notebook on the toy city at 32 px for one
epoch with random extractor weights and no downloads; CI executes the notebooks that way
(``tests/test_notebooks.py``). ``COLORKERAS_WORKDIR`` names the folder they share.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from colorkeras import color
from colorkeras.data import clips
from colorkeras.data.sun397 import REPORT_NAME, fetch_urban32
from colorkeras.data.synthetic import SCENE_CLASSES, render_scene, write_toy_city
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation.evaluate import evaluate_run
from colorkeras.evaluation.metrics import LpipsScorer
from colorkeras.images import list_images, save_rgb
from colorkeras.inference.colorize import plan_outputs
from colorkeras.models.registry import FAMILIES, MODEL_NAMES
from colorkeras.training.shipped import NoShippedModel, default_model_dir, exemplar_model_dir
from colorkeras.runtime import in_colab
from colorkeras.training.config import TrainConfig
from colorkeras.training.recipes import RECIPE_NAMES, recipe_by_name
from colorkeras.training.run import Run, find_runs

SMOKE_ENV = "COLORKERAS_SMOKE"
WORKDIR_ENV = "COLORKERAS_WORKDIR"
# Relative on purpose: in Colab it lands in /content, locally in the folder Jupyter runs in.
DEFAULT_WORKDIR = "colorkeras-work"
# Where Colab mounts Google Drive, and our folder inside "My Drive".
DRIVE_MOUNT_POINT = "/content/drive"
DRIVE_FOLDER = "MyDrive/colorkeras"

# Smoke mode: small enough that all five notebooks run in about a minute on 2 CPU cores,
# large enough that every step has real work (4 classes x 12 images -> 40/4/4 split).
SMOKE_IMAGE_SIZE = 32
SMOKE_EPOCHS = 1
SMOKE_BATCH_SIZE = 8  # one batch must fit in the 40 training images
SMOKE_IMAGES_PER_CLASS = 12
SMOKE_SOURCE_SIZE = 48  # larger than the prepared size, as real photos are
SMOKE_PHOTO_SIZE = (96, 72)  # (width, height) of the stand-in "old photos": not square

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


# ------------------------------------------------------------------------------------
# Environment
# ------------------------------------------------------------------------------------
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
        workdir: the folder all five notebooks share.
        data_root: image folders and prepared datasets.
        run_root: one run folder per model.
        model: "baseline", "inception_fusion" or "vit_fusion" (with the study's recipe).
        recipe: None, or a recipe of the quality ablation (``colorkeras.training.recipes``, e.g.
            "unet+attention"): it then sets the model and objective, and names the run.
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
    recipe: str | None = None

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
        return self.run_root / (model or self.recipe or self.model)

    def colorizer(self) -> Path:
        """The model that colorizes: the trained run (`run_dir`) if it holds a model, else
        the model that ships with colorkeras (for users who have trained nothing)."""
        if Run(self.run_dir()).best_model_path.is_file():
            print(f"model: the trained run {self.run_dir()}")
            return self.run_dir()
        print(f"model: no trained run at {self.run_dir()}; using the model that ships with colorkeras "
              "(its card: MODEL_CARD.md beside it)")
        return default_model_dir()

    def train_config(self) -> TrainConfig:
        """The study's schedule with the model (or the recipe's model and objective); in smoke
        mode its CPU-sized variant with random extractor weights."""
        chosen = recipe_by_name(self.recipe).changes if self.recipe else {"model": self.model}
        if self.smoke:
            # Random weights: CI is offline. The tiny ViT keeps the ViT path but not its cost.
            return TrainConfig.smoke(
                **chosen, image_size=self.image_size, epochs=self.epochs,
                batch_size=SMOKE_BATCH_SIZE, extractor_weights=None,
                extractor_size="tiny" if chosen["model"] == "vit_fusion" else "base",
            )
        return TrainConfig(**chosen, image_size=self.image_size, epochs=self.epochs)

    @property
    def recipe_line(self) -> str:
        if not self.recipe:
            return f"{self.model} (the study's recipe)"
        return f"recipe {self.recipe}: {recipe_by_name(self.recipe).summary}"

    def to_text(self) -> str:
        mode = ("SMOKE mode: toy city, tiny images, one epoch, random extractor weights"
                if self.smoke else "full mode: SUN397 urban-32")
        return "\n".join([
            mode,
            f"  working folder: {self.workdir}",
            f"  data:           {self.data_root}",
            f"  runs:           {self.run_root}",
            f"  model:          {self.recipe_line}, {self.epochs} epoch(s) at {self.image_size}x{self.image_size}",
        ])


def resolve_params(
    *,
    smoke: bool,
    workdir=None,
    use_drive: bool = False,
    data_root=None,
    run_root=None,
    model: str = "baseline",
    recipe: str | None = None,
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
    if model not in MODEL_NAMES:
        raise InvalidArgument(f"MODEL = {model!r}: choose one of {', '.join(MODEL_NAMES)}")
    if recipe and recipe not in RECIPE_NAMES:
        raise InvalidArgument(f"RECIPE = {recipe!r}: choose None or one of {', '.join(RECIPE_NAMES)}")
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
        colorized_dir=inside(colorized, "colorized"), recipe=recipe or None,
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
    if params.smoke:
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


# ------------------------------------------------------------------------------------
# 02: training
# ------------------------------------------------------------------------------------
def cache_embeddings(params: NotebookParams, *, batch_size: int = 32, progress: bool = True) -> str | None:
    """Cache the frozen extractor's outputs for a fusion model; return the cache key.

    Nothing to do for the baseline. With random extractor weights (smoke mode) nothing is
    cached here either: a random extractor built here would not be the one inside the
    trained model, so ``train`` caches the outputs of the model's own extractor instead.
    """
    config = params.train_config()
    # What a fusion family's name fixes, or the quality family's optional extractor.
    extractor = FAMILIES[config.model].fixed.get("extractor") or config.extractor
    if extractor is None:
        print(f"{config.model} without an extractor: nothing to cache.")
        return None
    if config.extractor_weights is None:
        print("Random extractor weights (smoke mode): training caches the outputs of the "
              "model's own extractor.")
        return None
    from colorkeras.training.embed import embed_dataset

    key = embed_dataset(params.prepared_dir, extractor, config.extractor_weights,
                        batch_size=batch_size, extractor_size=config.extractor_size, progress=progress)
    print(f"{extractor} outputs cached in {params.prepared_dir / 'embeddings' / key}")
    return key


# ------------------------------------------------------------------------------------
# 03: evaluation
# ------------------------------------------------------------------------------------
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
    runs = find_runs(params.run_root) if names is None else [params.run_dir(name) for name in names]
    if not runs:
        raise FileNotFoundError(f"No trained run (a folder with best.keras) under {params.run_root}: "
                                "train one with 02_train first.")
    scorer = None
    if not params.smoke:
        scorer = LpipsScorer(pretrained=True)
        if not scorer.available:
            print(f"LPIPS will be n/a: {scorer.reason}")
    for run in runs:
        evaluate_run(run, params.prepared_dir, split=split, lpips_scorer=scorer, progress=progress)
    return runs


# ------------------------------------------------------------------------------------
# 04: your own photos
# ------------------------------------------------------------------------------------
def write_smoke_photos(folder, count: int = 3, size: tuple[int, int] = SMOKE_PHOTO_SIZE,
                       seed: int = 0) -> list[Path]:
    """Stand-ins for old photos: toy-city scenes, made grayscale, saved as JPEG.

    Each is ``size`` = (width, height) pixels, larger than the smoke model's input and not
    square, so the full-resolution path is exercised as with a real scan.
    """
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

    Give the same ``inputs``, ``suffix`` and ``fmt`` as to ``colorize_paths``; show them
    with ``colorkeras.evaluation.figures.before_after_figure``.
    """
    jobs, _ = plan_outputs(list(inputs), out_dir, suffix=suffix, fmt=fmt)
    return [(source, target) for source, target in jobs if target.is_file()]


# ------------------------------------------------------------------------------------
# 05_video
# ------------------------------------------------------------------------------------
def videos_dir(params: NotebookParams) -> Path:
    """Where 05_video keeps clips and their colour versions."""
    return params.workdir / "videos"


def write_smoke_clip(folder) -> tuple[Path, Path]:
    """Smoke mode's stand-in for an old film: a toy-city camera pan with a scene cut, as
    the grey clip a user would have and its colour truth. Returns (grey, truth) paths."""
    folder = Path(folder)
    clip = clips.cut_clip(24, 12, 128, 96)
    truth = clips.write_clip(clip, folder / "toy_film_colour.mp4")
    grey_frames = [np.repeat(np.clip(np.rint(color.rgb_to_l(frame) * 2.55), 0, 255).astype(np.uint8)[..., None], 3, -1)
                   for frame in clip.frames]
    grey = clips.write_clip(dataclasses.replace(clip, frames=np.stack(grey_frames)), folder / "toy_film.mp4")
    return grey, truth


def collect_video(params: NotebookParams, video=None, *, upload: bool = False, files_module=None) -> Path:
    """The clip 05_video colorizes: ``video`` (a path), an upload (Colab), or in smoke mode
    a generated toy film. Raises FileNotFoundError, saying what to do, when there is none."""
    folder = videos_dir(params)
    if params.smoke:
        return write_smoke_clip(folder)[0]
    if upload:
        uploaded = upload_photos(folder, files_module)  # the same picker: any file type
        if uploaded:
            return uploaded[0]
    if video is None or not Path(video).exists():
        raise FileNotFoundError(f"No clip: set VIDEO to the path of a video file (or UPLOAD = True), "
                                f"got {video!r}")
    return Path(video)


def side_by_side_videos(paths, titles):
    """An HTML block playing the videos side by side, embedded (works offline and in Colab)."""
    from IPython.display import HTML

    cells = []
    for path, title in zip(paths, titles, strict=True):
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        cells.append(f'<figure style="display:inline-block;margin:4px"><video controls loop muted autoplay '
                     f'width="320" src="data:video/mp4;base64,{data}"></video>'
                     f"<figcaption>{html.escape(title)}</figcaption></figure>")
    return HTML("".join(cells))


def reference_model():
    """What colours from a reference photo in 04 and 05: the exemplar model that ships with
    colorkeras where installed, else the classical global transfer (no weights)."""
    try:
        return exemplar_model_dir()
    except NoShippedModel:
        return "global"


def smoke_reference(params: NotebookParams) -> Path:
    """A colour toy-city street (128 px) in the work folder: the smoke runs' reference photo."""
    path = params.workdir / "reference_street.png"
    save_rgb(render_scene("street", size=128), path)
    return path
