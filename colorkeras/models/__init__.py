"""Model families: the study's CNN baseline and its InceptionV3 / ViT-B/16 fusion variants."""

from colorkeras.models.colorizer import Colorizer
from colorkeras.models.registry import FAMILIES, MODEL_NAMES, build_model, load_model

__all__ = ["FAMILIES", "MODEL_NAMES", "Colorizer", "build_model", "load_model"]
