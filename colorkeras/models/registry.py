"""One entry point for every model: build, save, load."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.models.baseline import build_baseline
from colorkeras.models.fusion import build_fusion_model

MODEL_NAMES = ("baseline", "inception_fusion", "vit_fusion")
EXTRACTOR_OF = {"baseline": None, "inception_fusion": "inception_v3", "vit_fusion": "vit_b16"}


def build_model(
    name: str,
    image_size: int = 256,
    weights="imagenet",
    input_channels: int = 1,
    extractor_size: str = "base",
) -> keras.Model:
    """Build `baseline`, `inception_fusion` or `vit_fusion` (end-to-end graph).

    Args:
        name: one of MODEL_NAMES.
        image_size: input side, a multiple of 8 (the study: 256).
        weights: the frozen extractor's weights ("imagenet", a local path, or None for
            random weights); ignored by the baseline.
        input_channels: 1, or 3 to repeat L as the study did.
        extractor_size: "base", or "tiny" (small ViT) for fast tests.
    """
    if name not in MODEL_NAMES:
        raise InvalidArgument(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    if name == "baseline":
        return build_baseline(image_size, input_channels)
    return build_fusion_model(EXTRACTOR_OF[name], image_size, weights, input_channels, extractor_size)


class ModelLoadError(ColorkerasError):
    """A saved model that is missing, damaged, not a Keras model, or refused by safe mode."""


# What Keras raises while reading a .keras archive it cannot use. It says "File not found"
# for any file that is not a valid zip, so the cause is worked out here instead.
_LOAD_ERRORS = (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile)

# Keras' words when safe mode refuses code in a model (a Python lambda, a non-modeling API).
_SAFE_MODE_REFUSALS = ("safe_mode", "disallowed", "for security")


def load_model(path) -> keras.Model:
    """Load a saved `.keras` colorizer, or a run folder's best.keras (safe mode).

    Safe mode stays on: a model that carries Python code (a Lambda layer) is refused.

    Raises:
        ModelLoadError: no file there, a file that is empty, truncated or not a Keras
            model, or a model that safe mode refuses; the message names the file and
            what to do.
    """
    try:
        import keras_hub  # noqa: F401 - registers the ViT classes a vit_fusion model needs
    except ImportError:  # hosts without keras-hub can still load the other models
        pass

    import colorkeras.models.fusion  # noqa: F401 - registers our layers
    import colorkeras.models.extractors  # noqa: F401

    path = Path(path)
    if path.is_dir():
        path = path / "best.keras"
    if not path.is_file():
        raise ModelLoadError(f"no saved model at {path}")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except _LOAD_ERRORS as error:
        raise ModelLoadError(_explain_load_failure(path, error)) from error


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


def model_input_size(model: keras.Model) -> int:
    """The side S of an end-to-end colorizer, (None, S, S, 1) L -> (None, S, S, 2) ab.

    Raises ValueError for any other kind of model (a training graph, say).
    """
    if len(model.inputs) != 1:
        raise InvalidArgument(
            f"model {model.name!r} takes {len(model.inputs)} inputs; this needs the end-to-end "
            "colorizer that takes the L image alone (a run's best.keras)"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 1:
        raise InvalidArgument(f"model {model.name!r} has input shape {shape}; expected (None, S, S, 1)")
    out_shape = tuple(model.outputs[0].shape)
    if len(out_shape) != 4 or out_shape[-1] != 2:
        raise InvalidArgument(f"model {model.name!r} outputs shape {out_shape}; expected (None, S, S, 2) ab")
    return int(shape[1])
