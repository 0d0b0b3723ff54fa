"""The study's colorizers: the CNN baseline and its InceptionV3 / ViT-B/16 fusion variants."""

from colorkeras.models.fusion import is_fusion, training_graph
from colorkeras.models.registry import MODEL_NAMES, build_model, load_model

__all__ = ["MODEL_NAMES", "build_model", "is_fusion", "load_model", "training_graph"]
