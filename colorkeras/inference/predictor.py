"""The one inference core: L at any size in, ab at that size out (DESIGN.md decision 7).

A `Predictor` holds a colorizer (a `Colorizer` family) and the objective that decodes its
output. Everything that turns photos into colour goes through it:

* `Predictor.predict_normalized`: normalised L at the model's size -> normalised ab, in
  batches (what evaluation runs on prepared arrays);
* `Predictor.colorize` / `Predictor.colorize_many`: photos of any size -> colour photos
  of the same size. The model sees each photo as training data was prepared (the RGB
  resized to S x S without cropping, then reduced to L); the predicted ab field is
  resized back to the photo's size and put on the photo's own full-resolution L, so the
  output keeps every detail of the input and only the colour is predicted at low
  resolution, where the eye forgives it. The ab field is brought to the photo's size by
  `colorkeras.inference.upsample.upsample_ab`: by default with a guided filter steered by the
  photo's L, so colour keeps to the photo's edges (``chroma_upsampling="resize"``: the
  plain bilinear resize of earlier versions).

Nothing here imports Keras or TensorFlow at module level: `colorkeras.inference.colorize` imports
this module and answers a rerun with nothing to do without their start-up.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from colorkeras.fileio import read_json_object
from colorkeras import color
from colorkeras.errors import InvalidArgument
from colorkeras.images import resize_square
from colorkeras.training.objectives import decode_to_numpy, get_objective
from colorkeras.training.run import CONFIG_JSON, Run, model_file
from colorkeras.inference.upsample import check_method, upsample_ab

# Full-resolution L channels (float32, 4 bytes a pixel) wait in memory until their batch
# has been through the model; past this many pixels the batch is run early, so a folder
# of 24 MP photos holds at most about 3 of them (~300 MB) at once.
BATCH_PIXEL_BUDGET = 64_000_000

# rgb_to_l's intermediates take several bytes a pixel (float input still goes through
# scikit-image's float64, ~40 bytes a pixel); a million pixels at a time keeps that
# bounded for any photo size.
_PIXELS_PER_LAB_BLOCK = 1_000_000

_README_STUDY = 'README section "Reproduce the study"'


# ------------------------------------------------------------------------------------
# Photos as the model sees them
# ------------------------------------------------------------------------------------
def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 photo (H, W), (H, W, 1) or (H, W, 3) as uint8 RGB (H, W, 3).

    Raises:
        InvalidArgument: another dtype or shape.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InvalidArgument(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise InvalidArgument(
            f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got {image.shape}"
        )
    return image


def lightness(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> L (H, W) float32 in [0, 100], in row blocks for big photos."""
    height, width = rgb.shape[:2]
    rows = max(1, _PIXELS_PER_LAB_BLOCK // max(1, width))
    out = np.empty((height, width), dtype=np.float32)
    for top in range(0, height, rows):
        out[top : top + rows] = color.rgb_to_l(rgb[top : top + rows])
    return out


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB photo -> the model's (size, size, 1) normalised L.

    Resizing the RGB before taking L is what data preparation does
    (`colorkeras.data.prepare.load_for_dataset`), so the model sees photos the way it
    saw its training data.
    """
    return color.normalize_l(color.rgb_to_l(resize_square(rgb, size)))[..., None].astype(np.float32)


def check_batch_size(batch_size) -> int:
    """``batch_size`` if it is an integer >= 1; else InvalidArgument."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def small_photo_warning(width: int, height: int, size: int) -> str | None:
    """The note for a photo that the model input is larger than (None otherwise)."""
    if width < size or height < size:
        return f"photo {width}x{height} is smaller than the model input {size}x{size}; upsampled"
    return None


@dataclass
class Colorized:
    """One photo through the model: its own L and the predicted ab at model size.

    The full-size colour photo is made only when `rgb` is called, so a batch of results
    holds no more than the L channels it was built from.
    """

    key: Any  # what the caller gave with the photo (a path, an index)
    lightness: np.ndarray  # (H, W) float32 L in [0, 100], the photo's own
    ab: np.ndarray  # (S, S, 2) float32 un-normalised ab at the model's size
    chroma_upsampling: str = "auto"  # how ab reaches the photo's size (`upsample_ab`)

    def rgb(self) -> np.ndarray:
        """uint8 RGB (H, W, 3): the ab field brought to the photo's size and put on its L."""
        width = self.lightness.shape[1]
        ab = upsample_ab(self.ab, self.lightness, self.chroma_upsampling)
        # Row blocks of about a million pixels keep the LAB->RGB temporaries small on
        # very wide photos.
        rows = max(1, _PIXELS_PER_LAB_BLOCK // width)
        return color.merge_l_ab(self.lightness, ab, rows_per_chunk=rows)


# ------------------------------------------------------------------------------------
# The predictor
# ------------------------------------------------------------------------------------
class Predictor:
    """A colorizer and its objective, ready to colorize: the one inference core.

    Args:
        model: a colorizer (a `Colorizer`, or a functional model saved by colorkeras
            before families were classes, converted by `as_family`).
        objective: the objective that decodes the model output (an objective object or
            its registry name); None: the study's regression (`get_objective(None)`).
        batch_size: photos (or L arrays) per model call.
        pixel_budget: a batch of photos is run early once the full-resolution photos
            waiting in it hold this many pixels (bounds memory on large photos).
        source_run: the run folder the model came from, if any (`open` sets it).
        chroma_upsampling: how the model-size ab reaches a photo's size: ``"guided"``
            (a guided filter steered by the photo's L: colour keeps to its edges),
            ``"resize"`` (bilinear) or ``"auto"`` (guided for photos at least 3x the
            model's size, where it measurably helps; see `colorkeras.inference.upsample`).
        temperature: the decode temperature of a classification objective (None: the
            objective's default; T = 1 the mean, small T towards the mode); regression
            objectives have none and ignore it.

    Raises:
        InvalidArgument: a bad batch size, budget or chroma upsampling, or a model whose output does not
            have the channels the objective decodes.
        ModelLoadError: a Keras model that is no colorkeras colorizer.
    """

    def __init__(self, model, objective=None, batch_size: int = 8, *,
                 pixel_budget: int = BATCH_PIXEL_BUDGET, source_run: Run | None = None,
                 chroma_upsampling: str = "auto",
                 temperature: float | None = None):
        from colorkeras.models.registry import as_family

        if pixel_budget < 1:
            raise InvalidArgument(f"pixel_budget must be at least 1, got {pixel_budget}")
        self._model = as_family(model)
        self._objective = get_objective(objective) if objective is None or isinstance(objective, str) \
            else objective
        if self._model.output_channels != self._objective.output_channels:
            raise InvalidArgument(
                f"model {self._model.name!r} outputs {self._model.output_channels} channels; the "
                f"objective {self._objective.name!r} decodes {self._objective.output_channels}")
        self.batch_size = check_batch_size(batch_size)
        self.pixel_budget = pixel_budget
        self.chroma_upsampling = check_method(chroma_upsampling)
        self._temperature = (self._objective.resolve_temperature(temperature)
                             if getattr(self._objective, "uses_temperature", False) else None)
        self._source_run = source_run

    @classmethod
    def open(cls, path, batch_size: int = 8, **options) -> "Predictor":
        """The predictor of a run folder (its best.keras) or of a ``.keras`` file.

        The objective is the run's (`Run.objective`) where there is a run: the folder
        given, or the folder of a ``.keras`` file that holds a run's config.json. A bare
        ``.keras`` file gets the default regression objective.

        Raises:
            ModelLoadError: no model there, or a damaged or refused one.
        """
        from colorkeras.models.registry import load_model

        path = Path(path)
        model = load_model(model_file(path))
        folder = path if path.is_dir() else path.parent
        run = Run(folder) if path.is_dir() or (folder / CONFIG_JSON).is_file() else None
        objective = run.objective if run is not None else None
        return cls(model, objective, batch_size, source_run=run, **options)

    # ------------------------------------------------------------------ what it is
    @property
    def model(self):
        """The colorizer (a `Colorizer`)."""
        return self._model

    @property
    def objective(self):
        return self._objective

    @property
    def temperature(self) -> float | None:
        """The decode temperature in force, or None for an objective without one."""
        return self._temperature

    @property
    def image_size(self) -> int:
        """Side S of the model's square input."""
        return int(self._model.image_size)

    @property
    def source_run(self) -> Run | None:
        """The run the model was opened from, or None."""
        return self._source_run

    # -------------------------------------------------------------- at model size
    def predict_normalized(self, l_norm) -> np.ndarray:
        """(N, S, S) or (N, S, S, 1) normalised L -> (N, S, S, 2) float32 normalised ab.

        Runs ``batch_size`` images per model call and decodes each batch with the
        objective, so memory grows with the batch, not with N.
        """
        l_norm = np.asarray(l_norm, dtype=np.float32)
        size = self.image_size
        if l_norm.ndim == 3:
            l_norm = l_norm[..., None]
        if l_norm.ndim != 4 or l_norm.shape[1:] != (size, size, 1):
            raise InvalidArgument(
                f"expected normalised L of shape (N, {size}, {size}) or (N, {size}, {size}, 1), "
                f"got {l_norm.shape}")
        out = np.empty((len(l_norm), size, size, 2), dtype=np.float32)
        for start in range(0, len(l_norm), self.batch_size):
            batch = l_norm[start : start + self.batch_size]
            # predict_on_batch keeps one compiled function per batch shape: no per-call tracing.
            out[start : start + len(batch)] = decode_to_numpy(
                self._objective, self._model.predict_on_batch(batch), self._temperature)
        return out

    def predict_at_size(self, l_norm) -> np.ndarray:
        """(N, D, D) or (N, D, D, 1) normalised L at any size D -> (N, D, D, 2) float32
        normalised ab, through the path photos take: L brought to the model's size, ab
        predicted there, brought back to D by this predictor's chroma upsampling steered
        by the image's own L (`Colorized`). At D = S it is `predict_normalized`."""
        import cv2

        l_norm = np.asarray(l_norm, dtype=np.float32)
        if l_norm.ndim == 4 and l_norm.shape[-1] == 1:
            l_norm = l_norm[..., 0]
        if l_norm.ndim != 3 or l_norm.shape[1] != l_norm.shape[2]:
            raise InvalidArgument(f"expected square normalised L of shape (N, D, D[, 1]), got {l_norm.shape}")
        size, side = self.image_size, l_norm.shape[1]
        if side == size:
            return self.predict_normalized(l_norm)
        method = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        small = np.stack([cv2.resize(image, (size, size), interpolation=method) for image in l_norm])
        ab_small = color.denormalize_ab(self.predict_normalized(np.clip(small, -1.0, 1.0)))
        lightness_full = color.denormalize_l(l_norm)
        return np.stack([color.normalize_ab(upsample_ab(ab, lum, self.chroma_upsampling))
                         for ab, lum in zip(ab_small, lightness_full)]).astype(np.float32)

    def model_input(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 photo -> this model's (S, S, 1) normalised L (see `model_input`)."""
        return model_input(as_rgb(rgb), self.image_size)

    @staticmethod
    def lightness(rgb: np.ndarray) -> np.ndarray:
        """uint8 photo -> its full-resolution L (H, W) in [0, 100] (see `lightness`)."""
        return lightness(as_rgb(rgb))

    # ------------------------------------------------------------------ at photo size
    def colorize(self, rgb: np.ndarray) -> np.ndarray:
        """Colorize one photo in memory: uint8 (H, W[, 3]) -> uint8 RGB (H, W, 3).

        A colour photo is reduced to its L first; the output has the input's size and L.
        A photo smaller than the model input is upsampled, with a warning.
        """
        rgb = as_rgb(rgb)
        note = small_photo_warning(rgb.shape[1], rgb.shape[0], self.image_size)
        if note:
            warnings.warn(note, stacklevel=2)
        [[result]] = self.colorize_many([(None, rgb)])
        return result.rgb()

    def colorize_many(self, photos: Iterable[tuple[Any, np.ndarray]]) -> Iterator[list[Colorized]]:
        """Colorize (key, uint8 photo) pairs, a batch at a time, in the order given.

        Photos are read from ``photos`` as they are needed; each is kept only as its L
        (and its model input) until its batch has been through the model. A batch is run
        at ``batch_size`` photos, or earlier once its photos hold ``pixel_budget``
        pixels. Yields each batch as a list of `Colorized` (call ``.rgb()`` on each for
        the colour photo), so a caller can record a batch before writing it.
        """
        pending: list[tuple[Any, np.ndarray, np.ndarray]] = []
        pixels = 0
        for key, rgb in photos:
            rgb = as_rgb(rgb)
            pending.append((key, lightness(rgb), model_input(rgb, self.image_size)))
            pixels += rgb.shape[0] * rgb.shape[1]
            del rgb  # only L is needed from here on
            if len(pending) >= self.batch_size or pixels >= self.pixel_budget:
                yield self._finish(pending)
                pending, pixels = [], 0
        if pending:
            yield self._finish(pending)

    def _finish(self, pending) -> list[Colorized]:
        ab_norm = self.predict_normalized(np.stack([item[2] for item in pending]))
        ab = color.denormalize_ab(ab_norm)
        return [Colorized(key, lum, field, self.chroma_upsampling)
                for (key, lum, _), field in zip(pending, ab)]

    # -------------------------------------------------------------------- the toy city
    def synthetic_warning(self) -> str | None:
        """A warning for a model trained on the synthetic toy city, or None.

        Known only for a model opened from a run (`open`); see `toy_city_evidence`.
        """
        if self._source_run is None:
            return None
        evidence = toy_city_evidence(self._source_run)
        return toy_city_warning(evidence) if evidence else None


def toy_city_evidence(run) -> str | None:
    """Why a run's model looks trained on the synthetic toy city, or None.

    ``run``: a `Run`, a run folder, or a ``.keras`` file in one. Any of these says so,
    checked in this order: the run's dataset record says ``synthetic`` (set from the
    prepared dataset's settings.json, `Run.trained_on_synthetic`); the prepared dataset
    (``dataset.root``) says ``synthetic: true`` in its settings.json; its source folder
    (or a split folder in it) holds toy-city's marker
    (`colorkeras.data.synthetic.toy_city_folder`); or, for data made before the marker
    existed, the demo's names (a source folder ``toy_city``, a prepared dataset
    ``toy_city_<size>px``). Unreadable or missing records say nothing.
    """
    from colorkeras.data.synthetic import toy_city_folder

    if not isinstance(run, Run):
        path = Path(run)
        run = Run(path if path.is_dir() else path.parent)
    if run.trained_on_synthetic:
        return f"{run.config_path} says its dataset is synthetic"
    dataset = run.record.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("root"):
        return None
    root = Path(str(dataset["root"]))
    settings = read_json_object(root / "settings.json")
    if settings.get("synthetic") is True:
        return f"{root / 'settings.json'} says its source is synthetic"
    source = Path(str(settings["source_dir"])) if settings.get("source_dir") else None
    folder = toy_city_folder(source) if source is not None else None
    if folder is not None:
        return f"its data was prepared from {folder}, written by toy-city"
    if root.name.startswith("toy_city_") or (source is not None and source.name == "toy_city"):
        return f"its dataset {root} is named as the demo names the toy city"
    return None


def toy_city_warning(evidence: str) -> str:
    """The warning for a model that `toy_city_evidence` found trained on the toy city."""
    return (
        f"this model was trained on the synthetic toy city ({evidence}); on real photos it "
        "gives wrong colours (often a blue cast). For a real colorizer, train on your own "
        f"photos or on SUN397: see the {_README_STUDY}."
    )


