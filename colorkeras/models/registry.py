"""One entry point for every model: build, save, load."""

from __future__ import annotations

from pathlib import Path

import keras

from colorkeras.errors import InvalidArgument
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


def load_model(path) -> keras.Model:
    """Load a saved `.keras` colorizer, or a run folder's best.keras (safe mode)."""
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
        raise FileNotFoundError(f"no saved model at {path}")
    return keras.saving.load_model(path, compile=False, safe_mode=True)


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
