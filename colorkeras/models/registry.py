"""The model families by name: build, load (today's files and those saved before families
were classes), and the one list of names the CLI, the config and the notebooks offer.

Adding a family: one file in ``colorkeras/models/`` with a registered ``Colorizer``
subclass, and one ``register_family`` line below. Families are named by "module:Class"
and imported when first built, so reading the names (the CLI's help) loads no Keras.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from colorkeras.errors import ColorkerasError, InvalidArgument

if TYPE_CHECKING:
    from colorkeras.models.colorizer import Colorizer


@dataclass(frozen=True)
class Family:
    """A registered model family: its class and the arguments its name fixes."""

    name: str
    target: str  # "module:Class"
    fixed: dict = field(default_factory=dict)
    summary: str = ""
    options: tuple[str, ...] = ()  # the TrainConfig architecture fields it takes (read without Keras)

    @property
    def cls(self) -> type:
        module, class_name = self.target.split(":")
        return getattr(importlib.import_module(module), class_name)

    def takes(self, argument: str) -> bool:
        """Whether the family's constructor takes ``argument`` (and the name does not fix it)."""
        return argument in inspect.signature(self.cls.__init__).parameters and argument not in self.fixed

    def build(self, **arguments):
        """Build the family from whichever of ``arguments`` its constructor takes (a
        TrainConfig offers extractor settings to every family; the baseline has none)."""
        accepted = inspect.signature(self.cls.__init__).parameters
        chosen = {key: value for key, value in arguments.items() if key in accepted and key not in self.fixed}
        return self.cls(**self.fixed, **chosen)


FAMILIES: dict[str, Family] = {}


def register_family(name: str, target: str, summary: str = "", options: tuple[str, ...] = (), **fixed) -> None:
    """Register the Colorizer class ``target`` ("module:Class") under ``name``; ``fixed``
    are constructor arguments the name implies (a fusion family's extractor); ``options``
    are the architecture arguments a recipe may set (``TrainConfig`` fields of that name)."""
    FAMILIES[name] = Family(name, target, fixed, summary, tuple(options))


register_family("baseline", "colorkeras.models.baseline:Baseline", "the study's CNN encoder-decoder")
register_family("inception_fusion", "colorkeras.models.fusion:Fusion", "baseline + frozen InceptionV3 embedding",
                extractor="inception_v3")
register_family("vit_fusion", "colorkeras.models.fusion:Fusion", "baseline + frozen ViT-B/16 embedding",
                extractor="vit_b16")
register_family("unet", "colorkeras.models.unet:UNet", "U-Net with skips, bottleneck attention, bilinear upsampling",
                options=("base_filters", "depth", "attention", "extractor"))
register_family("efficient", "colorkeras.models.efficient:EfficientUNet",
                "the default model: efficient U-Net (strided stem, fused-MBConv blocks, ab at half size)",
                options=("base_filters", "depth", "blocks", "block", "attention"))
register_family("exemplar", "colorkeras.models.exemplar:ExemplarUNet",
                "colour from a reference photo: shared encoder, attention to the reference at S/8, gated fallback",
                options=("base_filters", "depth", "blocks", "block", "attention"))

MODEL_NAMES = tuple(FAMILIES)


class ModelLoadError(ColorkerasError):
    """A saved model that is missing, damaged, not a Keras model, or refused by safe mode."""


# What Keras raises while reading a .keras archive it cannot use. It says "File not found"
# for any file that is not a valid zip, so the cause is worked out here instead.
_LOAD_ERRORS = (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile)

# Keras' words when safe mode refuses code in a model (a Python lambda, a non-modeling API).
_SAFE_MODE_REFUSALS = ("safe_mode", "disallowed", "for security")


def check_model_name(name: str) -> str:
    if name not in FAMILIES:
        raise InvalidArgument(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    return name


def build_model(
    name: str,
    image_size: int = 256,
    weights="imagenet",
    input_channels: int = 1,
    extractor_size: str = "base",
    output_channels: int | None = None,
    **options,
) -> Colorizer:
    """Build a registered family (end-to-end graph).

    Args:
        name: one of MODEL_NAMES.
        image_size: input side, a multiple of 8 (the study: 256).
        weights: the frozen extractor's weights ("imagenet", a local path, or None for
            random weights); families without an extractor ignore it.
        input_channels: 1, or 3 to repeat L as the study did.
        extractor_size: "base", or "tiny" (small ViT) for fast tests.
        output_channels: the channels an objective decodes (``objective.output_channels``),
            for families that take it; None: the family's default (2, regression).
        options: architecture arguments among the family's ``options`` (the U-Net's
            base_filters, depth, attention, extractor); None values keep the family's default.
    """
    family = FAMILIES[check_model_name(name)]
    unknown = sorted(key for key, value in options.items() if value is not None and key not in family.options)
    if unknown:
        raise InvalidArgument(f"the {name!r} family does not take {', '.join(unknown)}"
                              f"{'; it takes ' + ', '.join(family.options) if family.options else ''}")
    extra = {key: value for key, value in options.items() if value is not None}
    if output_channels is not None:
        extra["output_channels"] = output_channels
    return family.build(
        image_size=image_size, input_channels=input_channels, extractor_weights=weights,
        extractor_size=extractor_size, **extra)


def saved_model_path(path) -> Path:
    """A saved model's ``.keras`` file, checked to exist without importing Keras (a run
    folder's file: `colorkeras.training.run.model_file`).

    Raises:
        ModelLoadError: no file there.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"no saved model at {path}")
    return path


def load_model(path) -> Colorizer:
    """Load a saved colorizer (a ``.keras`` file) in safe mode.

    Safe mode stays on: a model that carries Python code (a Lambda layer) is refused.
    Files saved before families were classes hold a plain functional model; they are
    rebuilt as their family with the same weights (``as_family``).

    Raises:
        ModelLoadError: no file there, a file that is empty, truncated or not a Keras
            model, a model that safe mode refuses, or a model that is no colorizer; the
            message names the file and what to do.
    """
    path = saved_model_path(path)  # before Keras' start-up: a misspelt path fails at once
    import keras

    try:
        import keras_hub  # noqa: F401 - registers the ViT classes a vit_fusion model needs
    except ImportError:  # hosts without keras-hub can still load the other models
        pass

    for family in FAMILIES.values():  # registers every family's classes and layers
        family.cls

    try:
        with warnings.catch_warnings():
            # A nested model's compile config (the fusion extractor's) makes Keras warn that
            # compile() was not called; colorkeras never compiles a model it loads.
            warnings.filterwarnings("ignore", message=r"`compile\(\)` was not called as part of model loading")
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except _LOAD_ERRORS as error:
        raise ModelLoadError(_explain_load_failure(path, error)) from error
    return as_family(model)


def as_family(model) -> Colorizer:
    """The model as its family: a Colorizer as it is; a plain functional model saved by
    colorkeras before families were classes, rebuilt as its family with its weights."""
    from colorkeras.models.colorizer import Colorizer
    from colorkeras.models.fusion import Fusion

    if isinstance(model, Colorizer):
        return model
    name = model.name
    if name not in FAMILIES:
        raise ModelLoadError(
            f"model {name!r} is not a colorkeras colorizer (families: {', '.join(MODEL_NAMES)})")
    shape = tuple(model.inputs[0].shape) if len(model.inputs) == 1 else ()
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 1:
        raise ModelLoadError(f"model {name!r} takes inputs {[tuple(i.shape) for i in model.inputs]}; "
                             "expected the end-to-end colorizer, L of shape (None, S, S, 1)")
    encoder = model.get_layer("encoder")
    input_channels = 3 if any(layer.name == "repeat_l" for layer in encoder.layers) else 1
    arguments = {"image_size": int(shape[1]), "input_channels": input_channels}
    if FAMILIES[name].cls is Fusion:
        arguments["extractor_network"] = model.get_layer("extractor")
    family = FAMILIES[name].build(**arguments)
    family.set_weights(model.get_weights())
    return family


def _explain_load_failure(path: Path, error: Exception) -> str:
    """Why `path` could not be loaded, in words, with what to do about it."""
    remedy = "use the run folder's best.keras, copy the file again, or train again"
    try:
        size = path.stat().st_size
    except OSError as stat_error:
        return f"cannot read the saved model {path}: {stat_error.strerror or stat_error}"
    damaged = f"{path} ({size:,} bytes) is damaged or not a Keras model"
    if size == 0:
        return f"{damaged}: the file is empty; {remedy}"
    try:
        with zipfile.ZipFile(path) as archive:
            broken_member = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as zip_error:
        # Keras' own message ("File not found") would send the user looking for a path.
        return f"{damaged}: not a complete zip archive ({zip_error}), e.g. a truncated copy; {remedy}"
    if broken_member is not None:
        return f"{damaged}: {broken_member} inside it fails its checksum; {remedy}"
    if "config.json" not in names:
        return f"{damaged}: a zip without the config.json of a .keras model; {remedy}"
    # Keras' messages can run to a whole model config: the first line says enough.
    message = (str(error).splitlines() or [""])[0][:300]
    if any(word in message for word in _SAFE_MODE_REFUSALS):
        # Only Keras' first sentence: the rest advises turning safe mode off.
        reason = message.split(". ")[0]
        return (
            f"refused to load {path} (safe mode): it carries Python code that would run on "
            f"loading ({reason}). colorkeras models need none; load only "
            "models you trained, e.g. a run folder's best.keras"
        )
    return f"{damaged}: Keras cannot rebuild it ({type(error).__name__}: {message}); {remedy}"
