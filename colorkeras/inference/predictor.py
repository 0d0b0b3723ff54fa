"""The one inference core: L at any size in, ab at that size out (README, "Colorize your own photos").

A `Predictor` holds a colorizer (a `Colorizer` family), the objective that decodes its
output and the knobs of inference (decode ``temperature``, ``chroma_upsampling``, batch
size). `Predictor.open` is the one way to get one from anything a caller can name: a run
folder, a ``.keras`` file, nothing (the model that ships with colorkeras), a colorizer in
memory, or a Predictor (given new knobs). Photos, films, evaluation, the notebooks and the
app all get their Predictor from it, so every knob and warning reaches each of them.

* `Predictor.predict_normalized`: normalised L at the model's size -> normalised ab, in
  batches (what evaluation runs on prepared arrays);
* `Predictor.colorize` / `Predictor.colorize_many`: photos of any size -> colour photos
  of the same size. The model sees each photo as training data was prepared (the RGB
  resized to S x S without cropping, then reduced to L); the predicted ab field is
  brought to the photo's size (`Predictor.upsample`) and put on the photo's own
  full-resolution L, so the output keeps every detail of the input and only the colour is
  predicted at low resolution, where the eye forgives it. The ab field is brought to the
  photo's size by `colorkeras.inference.upsample.upsample_ab`: by default with a guided
  filter steered by the photo's L, so colour keeps to the photo's edges
  (``chroma_upsampling="resize"``: the plain bilinear resize of earlier versions);
* `Predictor.predict_ab` and `Predictor.upsample`: the same two steps for one frame of a
  film, which carries colour between them (`colorkeras.inference.frames`).

A model that colours from a reference photo (``takes_reference``: the exemplar family,
or a classical transfer opened by the name ``"global"`` or ``"welsh"``) gets the
reference's LAB with each photo (``reference=``); every other model refuses one.

Nothing here imports Keras or TensorFlow at module level: `colorkeras.inference.colorize` imports
this module and answers a rerun with nothing to do without their start-up.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from colorkeras import color
from colorkeras.data.synthetic import toy_city_folder
from colorkeras.errors import InvalidArgument
from colorkeras.fileio import read_json_object
from colorkeras.images import resize_square
from colorkeras.inference.reference import TRANSFERS, TransferColorizer, is_transfer_name, reference_inputs
from colorkeras.inference.upsample import check_method, upsample_ab
from colorkeras.models.registry import as_family, load_model
from colorkeras.training.shipped import default_model_dir
from colorkeras.training.objectives import decode_to_numpy, get_objective
from colorkeras.training.run import CONFIG_JSON, Run, model_file

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
        if pixel_budget < 1:
            raise InvalidArgument(f"pixel_budget must be at least 1, got {pixel_budget}")
        self._model = model if isinstance(model, TransferColorizer) else as_family(model)
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
    def open(cls, model=None, batch_size: int | None = None, *, chroma_upsampling: str | None = None,
             temperature: float | None = None, pixel_budget: int | None = None) -> "Predictor":
        """The one way to a Predictor, from anything a caller can name.

        Args:
            model: a run folder (its best.keras, with the run's objective), a ``.keras``
                file (the run's objective when it lies in a run folder, else the default
                regression), ``"global"`` or ``"welsh"`` (a classical transfer from a
                reference photo, `TransferColorizer`), None (the model that ships with colorkeras,
                `colorkeras.training.shipped`), a colorizer in memory (the default
                regression), or a Predictor (its model, with the knobs given here).
            batch_size, chroma_upsampling, temperature, pixel_budget: the knobs (see
                `Predictor`); None leaves a knob at its default, or, for a Predictor
                given, as that Predictor has it.

        Raises:
            ModelLoadError: no model at the path, or a damaged or refused one.
            NoShippedModel: ``model`` is None and the package has no shipped model.
            InvalidArgument: a bad knob.
        """
        knobs = {name: value for name, value in (("batch_size", batch_size), ("pixel_budget", pixel_budget),
                                                 ("chroma_upsampling", chroma_upsampling),
                                                 ("temperature", temperature)) if value is not None}
        if isinstance(model, Predictor):
            return model.with_knobs(**knobs) if knobs else model
        if model is None:
            model = default_model_dir()
        if not isinstance(model, (str, os.PathLike)):
            return cls(model, **knobs)
        if is_transfer_name(model):
            return cls(TransferColorizer(model), **knobs)
        path = Path(model)
        folder = path if path.is_dir() else path.parent
        run = Run(folder) if path.is_dir() or (folder / CONFIG_JSON).is_file() else None
        objective = run.objective if run is not None else None
        return cls(load_model(model_file(path)), objective, source_run=run, **knobs)

    def with_knobs(self, **knobs) -> "Predictor":
        """A Predictor on this one's model and objective (nothing loaded again) with the
        ``knobs`` given (``batch_size``, ``pixel_budget``, ``chroma_upsampling``,
        ``temperature``: None the objective's default) and this one's for the others."""
        current = {"batch_size": self.batch_size, "pixel_budget": self.pixel_budget,
                   "chroma_upsampling": self.chroma_upsampling, "temperature": self._temperature}
        unknown = sorted(set(knobs) - set(current))
        if unknown:
            raise InvalidArgument(f"unknown knob(s) {', '.join(unknown)}; expected some of {', '.join(current)}")
        return Predictor(self._model, self._objective, source_run=self._source_run, **{**current, **knobs})

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

    @property
    def takes_reference(self) -> bool:
        """Whether the model colours from a reference photo (then every call needs one)."""
        return bool(getattr(self._model, "takes_reference", False))

    def check_reference(self, given: bool) -> None:
        """Refuse a reference for a model that takes none, or none for a model that
        needs one (InvalidArgument, saying what to do)."""
        name = self._model.name
        if given and not self.takes_reference:
            raise InvalidArgument(
                f"model {name!r} colours without a reference photo; a reference needs an exemplar "
                f"model (family 'exemplar') or a classical transfer ({' or '.join(TRANSFERS)})")
        if not given and self.takes_reference:
            raise InvalidArgument(f"model {name!r} colours from a reference photo: give one (--reference)")

    def reference_inputs(self, references, count: int) -> list[np.ndarray]:
        """The model's extra inputs for ``count`` images: [] for a model without a
        reference; else [reference L (N, S, S, 1), reference ab (N, S, S, 2)] from
        ``references`` (one LAB array per image, any size, or one for all).

        Raises:
            InvalidArgument: see `check_reference`; or a count that does not match.
        """
        self.check_reference(references is not None)
        if references is None:
            return []
        references = [references] * count if isinstance(references, np.ndarray) else list(references)
        if len(references) != count:
            raise InvalidArgument(f"{len(references)} reference(s) for {count} image(s)")
        pairs = [reference_inputs(lab, self.image_size) for lab in references]
        return [np.concatenate([pair[0] for pair in pairs]), np.concatenate([pair[1] for pair in pairs])]

    # -------------------------------------------------------------- at model size
    def predict_normalized(self, l_norm, references=None) -> np.ndarray:
        """(N, S, S) or (N, S, S, 1) normalised L -> (N, S, S, 2) float32 normalised ab.

        Runs ``batch_size`` images per model call and decodes each batch with the
        objective, so memory grows with the batch, not with N. ``references``: for a
        model that takes one, the reference LAB of each image, or one for all
        (`reference_inputs`).
        """
        l_norm = np.asarray(l_norm, dtype=np.float32)
        size = self.image_size
        if l_norm.ndim == 3:
            l_norm = l_norm[..., None]
        if l_norm.ndim != 4 or l_norm.shape[1:] != (size, size, 1):
            raise InvalidArgument(
                f"expected normalised L of shape (N, {size}, {size}) or (N, {size}, {size}, 1), "
                f"got {l_norm.shape}")
        extra = self.reference_inputs(references, len(l_norm))
        out = np.empty((len(l_norm), size, size, 2), dtype=np.float32)
        for start in range(0, len(l_norm), self.batch_size):
            stop = start + self.batch_size
            batch = [l_norm[start:stop]] + [array[start:stop] for array in extra]
            # predict_on_batch keeps one compiled function per batch shape: no per-call tracing.
            out[start:stop] = decode_to_numpy(
                self._objective, self._model.predict_on_batch(batch if extra else batch[0]), self._temperature)
        return out

    def predict_ab(self, rgb: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """One uint8 photo (or film frame) -> its (S, S, 2) float32 un-normalised ab at the
        model's size (`upsample` brings it to the photo's size); ``reference``: its
        reference's LAB, for a model that takes one."""
        references = () if reference is None else ([reference],)
        return color.denormalize_ab(self.predict_normalized(self.model_input(rgb)[None], *references)[0])

    def upsample(self, ab: np.ndarray, lightness: np.ndarray) -> np.ndarray:
        """An (h, w, 2) ab field -> (H, W, 2) at the size of the (H, W) ``lightness`` by this
        predictor's chroma upsampling, steered by that L (`upsample_ab`)."""
        return upsample_ab(ab, lightness, self.chroma_upsampling)

    def predict_at_size(self, l_norm, references=None) -> np.ndarray:
        """(N, D, D) or (N, D, D, 1) normalised L at any size D -> (N, D, D, 2) float32
        normalised ab, through the path photos take: L brought to the model's size, ab
        predicted there, brought back to D by this predictor's chroma upsampling steered
        by the image's own L (`Colorized`). At D = S it is `predict_normalized`.
        ``references``: as for `predict_normalized`."""
        import cv2

        l_norm = np.asarray(l_norm, dtype=np.float32)
        if l_norm.ndim == 4 and l_norm.shape[-1] == 1:
            l_norm = l_norm[..., 0]
        if l_norm.ndim != 3 or l_norm.shape[1] != l_norm.shape[2]:
            raise InvalidArgument(f"expected square normalised L of shape (N, D, D[, 1]), got {l_norm.shape}")
        size, side = self.image_size, l_norm.shape[1]
        if side == size:
            return self.predict_normalized(l_norm, references)
        method = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        small = np.stack([cv2.resize(image, (size, size), interpolation=method) for image in l_norm])
        ab_small = color.denormalize_ab(self.predict_normalized(np.clip(small, -1.0, 1.0), references))
        lightness_full = color.denormalize_l(l_norm)
        return np.stack([color.normalize_ab(self.upsample(ab, lum))
                         for ab, lum in zip(ab_small, lightness_full)]).astype(np.float32)

    def model_input(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 photo -> this model's (S, S, 1) normalised L (see `model_input`)."""
        return model_input(as_rgb(rgb), self.image_size)

    @staticmethod
    def lightness(rgb: np.ndarray) -> np.ndarray:
        """uint8 photo -> its full-resolution L (H, W) in [0, 100] (see `lightness`)."""
        return lightness(as_rgb(rgb))

    # ------------------------------------------------------------------ at photo size
    def colorize(self, rgb: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """Colorize one photo in memory: uint8 (H, W[, 3]) -> uint8 RGB (H, W, 3).

        A colour photo is reduced to its L first; the output has the input's size and L.
        A photo smaller than the model input is upsampled, with a warning. ``reference``:
        the LAB of a reference photo (`colorkeras.inference.reference.reference_lab`), for
        a model that takes one.
        """
        rgb = as_rgb(rgb)
        note = small_photo_warning(rgb.shape[1], rgb.shape[0], self.image_size)
        if note:
            warnings.warn(note, stacklevel=2)
        [[result]] = self.colorize_many([(None, rgb) if reference is None else (None, rgb, reference)])
        return result.rgb()

    def colorize_many(self, photos: Iterable[tuple[Any, np.ndarray]]) -> Iterator[list[Colorized]]:
        """Colorize (key, uint8 photo) pairs, a batch at a time, in the order given; for a
        model that takes a reference, (key, uint8 photo, reference LAB) triples.

        Photos are read from ``photos`` as they are needed; each is kept only as its L
        (and its model input) until its batch has been through the model. A batch is run
        at ``batch_size`` photos, or earlier once its photos hold ``pixel_budget``
        pixels. Yields each batch as a list of `Colorized` (call ``.rgb()`` on each for
        the colour photo), so a caller can record a batch before writing it.
        """
        pending: list[tuple[Any, np.ndarray, np.ndarray, Any]] = []
        pixels = 0
        for key, rgb, *reference in photos:
            rgb = as_rgb(rgb)
            pending.append((key, lightness(rgb), model_input(rgb, self.image_size), *(reference or [None])))
            pixels += rgb.shape[0] * rgb.shape[1]
            del rgb  # only L is needed from here on
            if len(pending) >= self.batch_size or pixels >= self.pixel_budget:
                yield self._finish(pending)
                pending, pixels = [], 0
        if pending:
            yield self._finish(pending)

    def _finish(self, pending) -> list[Colorized]:
        references = [item[3] for item in pending]
        extra = () if all(reference is None for reference in references) else (references,)
        ab = color.denormalize_ab(self.predict_normalized(np.stack([item[2] for item in pending]), *extra))
        return [Colorized(key, lum, field, self.chroma_upsampling)
                for (key, lum, _, _), field in zip(pending, ab)]

    # -------------------------------------------------------------------- the toy city
    def synthetic_warning(self) -> str | None:
        """A warning for a model trained on the synthetic toy city, or None.

        Known only for a model opened from a run (`open`); see `toy_city_evidence`.
        """
        return toy_warning(self._source_run) if self._source_run is not None else None

    def unused_temperature_warning(self, temperature: float | None) -> str | None:
        """The note for a ``temperature`` asked of a model whose objective has none (None
        when none was asked, or the objective uses it)."""
        if temperature is None or self._temperature is not None:
            return None
        return (f"the model's objective ({self._objective.name}) is a regression: "
                "--temperature has no effect")


def toy_warning(model, *, announce: bool = False) -> str | None:
    """The toy-city warning for anything `Predictor.open` takes, or None.

    For a name (a run folder, a ``.keras`` file in one, None for the shipped model) it
    is read from the run's records without loading the model, so a command can say it
    before any work; a Predictor says its own (`Predictor.synthetic_warning`); a
    colorizer in memory has no records (None). ``announce``: also print it at once, so
    a long run says it before its first output rather than only in its report.
    """
    if isinstance(model, Predictor):
        warning = model.synthetic_warning()
    elif isinstance(model, (str, os.PathLike, Run)) or model is None:
        evidence = toy_city_evidence(default_model_dir() if model is None else model)
        warning = toy_city_warning(evidence) if evidence else None
    else:
        warning = None
    if warning and announce:
        print(f"warning: {warning}", flush=True)
    return warning


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


