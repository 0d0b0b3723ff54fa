"""Model families: the study's CNN baseline and its InceptionV3 / ViT-B/16 fusion variants.

The names (``MODEL_NAMES``, ``FAMILIES``) load without Keras; the rest on first use.
"""

from colorkeras.models.registry import FAMILIES, MODEL_NAMES, build_model, load_model

__all__ = ["FAMILIES", "MODEL_NAMES", "Colorizer", "build_model", "load_model"]


def __getattr__(name):
    if name == "Colorizer":
        from colorkeras.models.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
